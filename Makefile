# One-command set-up: `make test` and `make demo` create or update .venv first.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# test-only vision_msgs build (see the vision-msgs target below)
VISION_MSGS_SRC := test/msgs/vision_msgs
VISION_MSGS_STAMP := $(VENV)/.vision_msgs
VISION_MSGS_BUILD := build/vision_msgs
ABS_VENV = $(abspath $(VENV))
# Pytest arguments, e.g. `make test PYTEST_ARGS="-k models -x"`.
PYTEST_ARGS ?=

.PHONY: venv vision-msgs test demo lock clean

venv: $(STAMP)

$(STAMP): requirements.txt setup.py setup.cfg package.xml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@# setup.cfg sends scripts to lib/seg_perception for `ros2 run`; a venv wants them on PATH too
	@if [ -d $(VENV)/lib/seg_perception ]; then for s in $(VENV)/lib/seg_perception/*; do \
		ln -sf ../lib/seg_perception/$$(basename $$s) $(VENV)/bin/; done; fi
	@touch $@

test: $(STAMP) $(VISION_MSGS_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(STAMP) $(VISION_MSGS_STAMP)
	$(PY) -m training.demo

# vision_msgs is not on PyPI or Debian: build the test-only stand-in (test/msgs/vision_msgs, the
# upstream LabelInfo/VisionClass interface) with the venv's Kilted ament/rosidl wheels and install
# it into the venv. A ROS 2 install has the real vision_msgs instead. It rebuilds only when its
# sources or requirements.txt change (a package.xml or setup.py edit does not need it).
# The wheels' *_rosidl_generator_py CMake exports name the wheel builder's Python and numpy
# include directories: point them at this venv's first (idempotent).
vision-msgs: $(VISION_MSGS_STAMP)

$(VISION_MSGS_STAMP): $(wildcard $(VISION_MSGS_SRC)/* $(VISION_MSGS_SRC)/msg/*) requirements.txt | $(STAMP)
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
	rm -rf /tmp/seg-lock-venv && $(PYTHON) -m venv /tmp/seg-lock-venv
	/tmp/seg-lock-venv/bin/pip install --quiet -r requirements.in
	(echo "# Pinned lock of requirements.in for CPython 3.11 on x86_64 (make lock regenerates it)."; \
	 /tmp/seg-lock-venv/bin/pip freeze --all | grep -vE '^(pip==|-e )' | $(PYTHON) -c "$$DROP_ROS_NAMES") > requirements.txt

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
	rm -rf $(VENV) build install log *.egg-info
