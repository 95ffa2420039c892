# One-command set-up: `make test` and `make demo` create or update .venv first.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Pytest arguments, e.g. `make test PYTEST_ARGS="-k models -x"`.
PYTEST_ARGS ?=

.PHONY: venv test demo lock clean

venv: $(STAMP)

$(STAMP): requirements.txt setup.py setup.cfg package.xml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@# setup.cfg sends scripts to lib/seg_perception for `ros2 run`; a venv wants them on PATH too
	@if [ -d $(VENV)/lib/seg_perception ]; then for s in $(VENV)/lib/seg_perception/*; do \
		ln -sf ../lib/seg_perception/$$(basename $$s) $(VENV)/bin/; done; fi
	@touch $@

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m training.demo

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
