"""launch/seg.launch.py against the node and the installed files.

``launch`` and ``launch_ros`` do not install from PyPI, so the first tests read the
launch file with ``ast``: its arguments, executable, parameter names, remappings and
Fast DDS profile must match what seg_node declares and what setup.py installs. The
last test runs the launch description for real wherever launch_ros is importable.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seg_perception.node.contract import camera_info_beside
from seg_perception.node.params import PARAMS

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "seg.launch.py"
ARGUMENTS = {"model_path", "backend", "image_topic", "camera_info_topic", "namespace", "params_file",
             "use_sim_time"}
ROS_OWN_PARAMETERS = {"use_sim_time"}


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == name]


def _keyword(call: ast.Call, name: str) -> ast.expr:
    return next(k.value for k in call.keywords if k.arg == name)


@pytest.fixture(scope="module")
def launch_tree():
    return ast.parse(LAUNCH_FILE.read_text())


@pytest.fixture(scope="module")
def assigns(launch_tree):
    """Module and function level ``NAME = value`` assignments of the launch file."""
    return {t.id: n.value for n in ast.walk(launch_tree) if isinstance(n, ast.Assign)
            for t in n.targets if isinstance(t, ast.Name)}


@pytest.fixture(scope="module")
def node_call(launch_tree):
    (call,) = _calls(launch_tree, "Node")
    return call


def _literal_strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_launch_arguments_are_the_documented_ones(launch_tree):
    declared = {call.args[0].value for call in _calls(launch_tree, "DeclareLaunchArgument")}
    assert declared == ARGUMENTS
    used = {call.args[0].value for call in _calls(launch_tree, "LaunchConfiguration")}
    assert used == ARGUMENTS  # every argument reaches the node


def test_the_executable_is_the_console_script_setup_py_installs(node_call, assigns):
    assert ast.literal_eval(assigns[_keyword(node_call, "package").id]) == "seg_perception"
    executable = ast.literal_eval(_keyword(node_call, "executable"))
    setup = ast.parse((ROOT / "setup.py").read_text())
    (setup_call,) = _calls(setup, "setup")
    scripts = [s.split("=") for s in _literal_strings(_keyword(setup_call, "entry_points")) if "=" in s]
    targets = {name.strip(): target.strip() for name, target in scripts}
    assert targets[executable] == "seg_perception.ros.seg_node:main"


def test_parameters_passed_by_the_launch_file_are_declared_by_the_node(node_call):
    (params_file, overrides) = _keyword(node_call, "parameters").elts
    assert _literal_strings(params_file) == ["params_file"]
    names = {key.value for key in overrides.keys}
    assert names <= {spec.name for spec in PARAMS} | ROS_OWN_PARAMETERS
    assert {"model_path", "backend", "use_sim_time"} == names


def test_the_default_parameter_file_and_fastdds_profile_are_installed(launch_tree):
    joined = [_literal_strings(call) for call in _calls(launch_tree, "join")]
    assert ["config", "seg.yaml"] in joined and ["config", "fastdds_large_frames.xml"] in joined
    setup_text = (ROOT / "setup.py").read_text()
    assert '(f"share/{PACKAGE}/config", glob("config/*"))' in setup_text
    for name in ("seg.yaml", "fastdds_large_frames.xml"):
        assert (ROOT / "config" / name).is_file()


def test_image_and_compressed_inputs_are_both_remapped_onto_image_topic(node_call):
    remappings = _keyword(node_call, "remappings").elts
    assert [ast.literal_eval(pair.elts[0]) for pair in remappings] == ["image", "image/compressed", "camera_info"]
    for pair in remappings[:2]:
        assert "image_topic" in ast.unparse(pair.elts[1])
    assert ast.unparse(remappings[2].elts[1]) == "camera_info_topic"


@pytest.mark.parametrize(("image_topic", "camera_info"), [
    ("/camera/image_raw", "/camera/camera_info"),
    ("/camera/image_raw/compressed", "/camera/camera_info"),
    ("/robot/front/image_rect", "/robot/front/camera_info"),
    ("/image", "/camera_info"),
    ("image", "camera_info"),
    ("front/image", "front/camera_info"),
])
def test_camera_info_is_taken_from_beside_the_image_topic(launch_tree, image_topic, camera_info):
    imported = {alias.name for node in ast.walk(launch_tree) if isinstance(node, ast.ImportFrom)
                and node.module == "seg_perception.node.contract" for alias in node.names}
    assert imported == {"camera_info_beside"}  # the launch file and seg-bag-eval share the rule
    assert camera_info_beside(image_topic) == camera_info


def test_the_node_gets_the_large_frame_profile_under_the_one_name_its_fast_dds_reads(launch_tree, assigns,
                                                                                     node_call):
    assert ast.unparse(_keyword(node_call, "additional_env")) == "profile_env"
    imported = {alias.name for node in ast.walk(launch_tree) if isinstance(node, ast.ImportFrom)
                and node.module == "seg_perception.ros.node_process" for alias in node.names}
    assert imported == {"FASTDDS_PROFILE_VARIABLES", "fastdds_profile_variable"}  # the live replay's rule too
    env = assigns["profile_env"]
    (key,) = env.keys  # before: both names, and Kilted warned about the old one on every launch
    assert ast.unparse(key) == "fastdds_profile_variable()"
    # the value keeps the user's profile (under either name), else the shipped one
    value = ast.unparse(env.values[0])
    assert value.count("EnvironmentVariable(") == 2 and value.count("default_value=large_frames") == 1


def test_the_model_path_argument_describes_what_the_node_loads(launch_tree):
    (call,) = [c for c in _calls(launch_tree, "DeclareLaunchArgument") if c.args[0].value == "model_path"]
    description = " ".join(_literal_strings(_keyword(call, "description")))
    assert "checkpoint" in description and "engine to load" not in description  # it loads no exported engine


def test_launch_waits_generously_before_escalating_to_sigterm(node_call, assigns):
    timeout = _keyword(node_call, "sigterm_timeout")
    assert float(ast.literal_eval(assigns[timeout.id])) >= 15  # launch's default is 5 s


@pytest.mark.ros
def test_the_launch_description_runs_and_starts_a_working_node(tmp_path, tiny_checkpoint):
    pytest.importorskip("launch_ros", reason="launch_ros is not on PyPI; this runs on a ROS 2 install")
    from sensor_msgs.msg import Image

    import ros_helpers as rh

    namespace = f"/launched{os.getpid()}"
    arguments = {"model_path": str(tiny_checkpoint), "namespace": namespace,
                 "image_topic": f"{namespace}/cam"}
    # LaunchService wants the main thread (signal handling), so it gets a process of its own.
    script = (
        "import sys, launch\n"
        "from launch.actions import IncludeLaunchDescription\n"
        "from launch.launch_description_sources import PythonLaunchDescriptionSource\n"
        f"include = IncludeLaunchDescription(PythonLaunchDescriptionSource({str(LAUNCH_FILE)!r}),\n"
        f"                                   launch_arguments={arguments!r}.items())\n"
        "service = launch.LaunchService()\n"
        "service.include_launch_description(launch.LaunchDescription([include]))\n"
        "sys.exit(service.run())\n")
    launched = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    graph = rh.RosGraph()
    camera = None
    try:
        collector = rh.make_collector(graph, namespace, {"segmentation/labels": Image})
        camera = rh.start_publisher(f"{namespace}/cam", 64, 32, count=0, rate=2)
        assert rh.wait_for(lambda: collector.received("segmentation/labels") or launched.poll() is not None, 120)
        answers = collector.received("segmentation/labels")
        assert answers, "the launched node never answered: " + "".join(rh.stop_process(launched)[1:])
        assert (answers[0].width, answers[0].height) == (64, 32)
    finally:
        if camera is not None:
            rh.stop_process(camera)
        code, out, err = rh.stop_process(launched)
        graph.close()
    assert code == 0, out + err


def test_the_documented_ros2_run_gives_model_path_after_the_parameter_file():
    # Later arguments win, and seg.yaml's model_path is empty: the other order cannot start.
    text = (ROOT / "docs" / "ROS_NODE.md").read_text()
    command = text[text.index("ros2 run seg_perception seg_node"):].split("```")[0].replace("\\\n", " ").split()
    assert command.index("--params-file") < command.index("model_path:=/path/to/best.pt") - 1
