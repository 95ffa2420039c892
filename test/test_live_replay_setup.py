"""How the live replay sets up its node and middleware, and what it refuses before starting anything."""

import signal
import sys

import pytest
import yaml

import ros_helpers as rh
from seg_perception.ros.bag_eval import _parser as bag_eval_parser
from seg_perception.ros.bag_eval import main as bag_eval
from seg_perception.bags.reader import BagError
from seg_perception.ros import node_process
from seg_perception.ros.live_replay import camera_info_topic_for, node_ros_args, replay_live
from test_live_replay import write_bag

PROFILE_NAMES = node_process.FASTDDS_PROFILE_VARIABLES


def params_of(args: list[str]) -> dict:
    """{name: value parsed as ROS parses ``-p name:=value`` (YAML)} of a --ros-args list."""
    pairs = [args[i + 1].split(":=", 1) for i, flag in enumerate(args) if flag == "-p"]
    return {name: yaml.safe_load(value) for name, value in pairs}


def remaps_of(args: list[str]) -> list[str]:
    return [args[i + 1] for i, flag in enumerate(args) if flag == "-r"]


def test_a_raw_bag_remaps_the_nodes_image_input_and_asks_for_reliable_input_and_no_colour():
    args = node_ros_args("/ns", "/cam/image_raw", False, "/m/best.pt", "cpu", (512, 256), ("road", "traffic light"),
                         {})
    assert remaps_of(args) == ["__ns:=/ns", "image:=/cam/image_raw"]
    assert params_of(args) == {"model_path": "/m/best.pt", "backend": "cpu", "qos_reliability": "reliable",
                               "publish_color": False, "input_width": 512, "input_height": 256,
                               "drivable_classes": ["road", "traffic light"]}


def test_a_compressed_bag_switches_the_node_to_its_compressed_input_and_extra_parameters_win():
    args = node_ros_args("/ns", "/cam/image_raw/compressed", True, "m.pt", "auto", None, None,
                         {"publish_color": "true", "min_confidence": "0.5"})
    assert remaps_of(args) == ["__ns:=/ns", "image/compressed:=/cam/image_raw/compressed"]
    params = params_of(args)
    assert params["image_transport"] == "compressed" and params["publish_color"] is True
    assert params["min_confidence"] == 0.5 and "input_width" not in params and "drivable_classes" not in params


@pytest.mark.parametrize("image_topic", ["/camera/image_raw", "/camera/image_raw/compressed"])
def test_camera_info_sits_beside_the_image_topic(image_topic):
    assert camera_info_topic_for(image_topic) == "/camera/camera_info"


def test_the_node_is_the_installed_executable_and_the_profile_the_shipped_one():
    assert node_process.seg_node_command() == [str(rh.SEG_NODE)]
    assert node_process.fastdds_profile() == rh.FASTDDS_PROFILE


@pytest.mark.parametrize("installed, distro, name", [
    ("fastrtps", "kilted", PROFILE_NAMES[1]),  # what is installed wins over ROS_DISTRO
    ("fastdds", "humble", PROFILE_NAMES[0]),
    (None, "humble", PROFILE_NAMES[1]), (None, "jazzy", PROFILE_NAMES[1]), (None, "kilted", PROFILE_NAMES[0]),
    (None, None, PROFILE_NAMES[0]),
])
def test_the_large_frame_profile_goes_under_the_one_name_the_installed_fast_dds_reads(tmp_path, installed, distro,
                                                                                       name):
    if installed:
        (tmp_path / "share" / installed / "cmake").mkdir(parents=True)
    environ = {"AMENT_PREFIX_PATH": str(tmp_path), **({"ROS_DISTRO": distro} if distro else {})}
    env = node_process.large_frames_env(environ)
    assert {key: value for key, value in env.items() if key in PROFILE_NAMES} == {name: str(rh.FASTDDS_PROFILE)}


def test_the_pypi_kilted_wheels_here_get_the_fast_dds_3_name():
    assert node_process.fastdds_profile_variable({}) == "FASTDDS_DEFAULT_PROFILES_FILE"


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_a_profile_the_user_set_is_left_alone(name):
    assert node_process.large_frames_env({name: "/mine.xml"}) == {name: "/mine.xml"}


def test_a_missing_topic_or_a_bad_rate_fails_before_any_node_starts(tmp_path):
    bag = write_bag(tmp_path / "bag", count=1)
    with pytest.raises(BagError, match=r"no topic /other/image_raw; the bag has /camera/camera_info"):
        replay_live(bag, "/other/image_raw", checkpoint=tmp_path / "unused.pt")
    with pytest.raises(ValueError, match="rate must be a positive number, got 0"):
        replay_live(bag, "/camera/image_raw", rate=0, checkpoint=tmp_path / "unused.pt")
    with pytest.raises(ValueError, match="needs a checkpoint"):
        replay_live(bag, "/camera/image_raw")


def test_the_log_tail_names_the_last_lines(tmp_path):
    log = tmp_path / "node.log"
    log.write_text("one\n\ntwo\nthree\nfour\n")
    assert node_process.last_lines(log) == "two | three | four"
    assert node_process.last_lines(tmp_path / "missing.log") == ""


def test_without_an_installed_executable_the_module_runs(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "tool")])
    assert node_process.seg_node_command() == [str(tmp_path / "python"), "-m", "seg_perception.ros.seg_node"]


def test_seg_bag_eval_takes_further_node_parameters_for_the_node_it_starts(tmp_path, capsys):
    base = [str(tmp_path / "bag"), "--checkpoint", "c.pt", "--out", str(tmp_path / "out")]
    args = bag_eval_parser().parse_args(base + ["--live", "--node-param", "min_confidence:=0.5",
                                                "--node-param", "drivable_classes:=[road, sidewalk]"])
    assert args.node_param == [("min_confidence", "0.5"), ("drivable_classes", "[road, sidewalk]")]
    for bad, says in ((["--live", "--node-param", "min_confidence=0.5"], "NAME:=VALUE"),
                      (["--node-param", "a:=1"], "--node-param is for the node --live starts"),
                      (["--live", "--use-running-node", "--node-param", "a:=1"], "not with --use-running-node"),
                      (["--live", "--use-running-node", "--input-filter", "denoise"],
                       "a running node has its own input_filter"),
                      (["--live", "--use-running-node", "--test-time-flip"],
                       "a running node has its own test_time_flip"),
                      # given as our own options, which the report records
                      (["--live", "--node-param", "input_filter:=denoise"], "give it as --input-filter"),
                      (["--live", "--node-param", "test_time_flip:=true"], "give it as --test-time-flip")):
        with pytest.raises(SystemExit) as exit_info:
            bag_eval(base + bad)
        assert exit_info.value.code == 2 and says in capsys.readouterr().err, bad


def test_ctrl_c_held_reaches_the_handler_only_as_the_block_ends():
    # A Ctrl-C while seg-bag-eval starts the node must not land before the process is kept (it would be
    # left running): inside the block it waits, and the rest of the block still runs.
    # Whatever handles Ctrl-C in this process now (an earlier test's, rclpy's, or SIG_IGN) is set aside:
    # this tests the hold against Python's own handler, as an interactive run has. A suite started as a
    # non-interactive shell's background job (`make test &` in a script) inherits SIGINT ignored, and
    # without this the Ctrl-C never raised.
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    after = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with node_process.ctrl_c_held():
                signal.raise_signal(signal.SIGINT)
                after.append("kept")
        assert after == ["kept"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        with node_process.ctrl_c_held():  # no Ctrl-C: nothing is raised
            after.append("quiet")
        assert after == ["kept", "quiet"]
    finally:
        if outer is not None:  # None: a handler installed outside Python, which cannot be put back
            signal.signal(signal.SIGINT, outer)
