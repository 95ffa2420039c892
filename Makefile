# One-command set-up: `make test` and `make demo` create or update .venv (ROS 2 Kilted wheels) first;
# `make test` also creates .venv-jazzy (ROS 2 Jazzy wheels) and runs the ROS-facing tests there.
VENV ?= .venv
# the lock the venv is installed from: requirements.txt (Kilted) or requirements-jazzy.txt
REQUIREMENTS ?= requirements.txt
JAZZY_VENV := .venv-jazzy
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# test-only vision_msgs build (see the vision-msgs target below)
VISION_MSGS_SRC := test/msgs/vision_msgs
VISION_MSGS_STAMP := $(VENV)/.vision_msgs
VISION_MSGS_BUILD ?= build/vision_msgs
ABS_VENV = $(abspath $(VENV))
# Pytest arguments, e.g. `make test PYTEST_ARGS="-k models -x"`.
PYTEST_ARGS ?=
# make's own variables for the Jazzy venv, passed to a recursive make
JAZZY := VENV=$(JAZZY_VENV) REQUIREMENTS=requirements-jazzy.txt VISION_MSGS_BUILD=build/vision_msgs_jazzy

.PHONY: venv vision-msgs test test-kilted test-jazzy jazzy-venv demo lock lock-jazzy clean

venv: $(STAMP)

$(STAMP): $(REQUIREMENTS) setup.py setup.cfg package.xml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@# setup.cfg sends scripts to lib/seg_perception for `ros2 run`; a venv wants them on PATH too
	@if [ -d $(VENV)/lib/seg_perception ]; then for s in $(VENV)/lib/seg_perception/*; do \
		ln -sf ../lib/seg_perception/$$(basename $$s) $(VENV)/bin/; done; fi
	@touch $@

# The whole suite on Kilted, then the ROS-facing tests (pytest marker `ros`) on Jazzy.
test: test-kilted test-jazzy

test-kilted: $(STAMP) $(VISION_MSGS_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

jazzy-venv:
	$(MAKE) $(JAZZY) venv vision-msgs

test-jazzy: jazzy-venv
	$(JAZZY_VENV)/bin/python -m pytest -m ros $(PYTEST_ARGS)

demo: $(STAMP) $(VISION_MSGS_STAMP)
	$(PY) -m training.demo

# vision_msgs is not on PyPI or Debian: build the test-only stand-in (test/msgs/vision_msgs, the
# upstream LabelInfo/VisionClass interface) with the venv's Kilted ament/rosidl wheels and install
# it into the venv. A ROS 2 install has the real vision_msgs instead. It rebuilds only when its
# sources or requirements.txt change (a package.xml or setup.py edit does not need it).
# The wheels' *_rosidl_generator_py CMake exports name the wheel builder's Python and numpy
# include directories: point them at this venv's first (idempotent).
vision-msgs: $(VISION_MSGS_STAMP)

$(VISION_MSGS_STAMP): $(wildcard $(VISION_MSGS_SRC)/* $(VISION_MSGS_SRC)/msg/*) $(REQUIREMENTS) | $(STAMP)
	@echo "Building the test-only vision_msgs package into $(VENV) ($(VISION_MSGS_SRC); about 10 s on 2 cores, once)"
	@set -e; \
	pyinc=$$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['include'])"); \
	npinc=$$($(PY) -c "import numpy; print(numpy.get_include())"); \
	test -f "$$pyinc/Python.h" || { echo "Python headers missing ($$pyinc/Python.h): apt-get install python3-dev"; exit 1; }; \
	grep -rl '/opt/python/cp311-cp311/' $(VENV)/share --include='*.cmake' | xargs -r sed -i \
		-e "s#/opt/python/cp311-cp311/include/python3.11#$$pyinc#g" \
		-e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$$npinc#g"; \
	rm -rf $(VISION_MSGS_BUILD) && mkdir -p $(VISION_MSGS_BUILD); \
	log=$(VISION_MSGS_BUILD)/build.log; \
	if ! ( export PATH=$(ABS_VENV)/bin:$$PATH AMENT_PREFIX_PATH=$(ABS_VENV) CMAKE_PREFIX_PATH=$(ABS_VENV); \
		cmake -S $(VISION_MSGS_SRC) -B $(VISION_MSGS_BUILD) -DCMAKE_INSTALL_PREFIX=$(ABS_VENV) \
			-DBUILD_TESTING=OFF -DPython3_EXECUTABLE=$(ABS_VENV)/bin/python -DCMAKE_BUILD_TYPE=Release && \
		cmake --build $(VISION_MSGS_BUILD) -j2 && cmake --install $(VISION_MSGS_BUILD) ) > $$log 2>&1; then \
		tail -n 40 $$log; echo "vision_msgs build failed; full log: $$log"; exit 1; fi
	$(PY) -c "from vision_msgs.msg import LabelInfo, VisionClass"
	@touch $@

# Re-pin requirements.txt from requirements.in in a scratch venv. The ROS wheels also register
# their ROS package names (std_msgs, rclpy, ...) which are not on PyPI: drop those lines.
lock:
	$(call pin,requirements.in,requirements.txt)

lock-jazzy:
	$(call pin,requirements-jazzy.in,requirements-jazzy.txt)

# $(call pin,IN,OUT): install IN into a scratch venv and freeze it into OUT
define pin
	rm -rf /tmp/seg-lock-venv && $(PYTHON) -m venv /tmp/seg-lock-venv
	/tmp/seg-lock-venv/bin/pip install --quiet -r $(1)
	(echo "# Pinned lock of $(1) for CPython 3.11 on x86_64 (make regenerates it)."; \
	 /tmp/seg-lock-venv/bin/pip freeze --all | grep -vE '^(pip==|-e |#)' | $(PYTHON) -c "$$DROP_ROS_NAMES") > $(2)
endef

define DROP_ROS_NAMES
import sys
lines = sys.stdin.read().split()
names = {l.split("==")[0].lower().replace("_", "-") for l in lines}
for l in lines:
    n = l.split("==")[0].lower().replace("_", "-")
    if n.startswith("ros-") or "ros-" + n not in names:
        print(l)
endef
export DROP_ROS_NAMES

clean:
	rm -rf $(VENV) $(JAZZY_VENV) build install log *.egg-info
