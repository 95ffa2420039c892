"""The input subscription: depth 1, reliability per ``qos_reliability``, re-matched to the publishers in auto mode."""

from __future__ import annotations

from collections.abc import Callable

from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_policy_name_from_kind

from ..node.params import input_reliability

try:
    from rclpy.event_handler import SubscriptionEventCallbacks  # Iron and newer
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks

_POLICIES = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
_NAMES = {policy: name for name, policy in _POLICIES.items()}

#: Output publishers: reliable, so best-effort and reliable subscribers both connect; depth 1, latest wins.
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)


class InputSubscription:
    """Subscribes ``topic`` with depth 1; in ``auto`` mode polls the publishers' reliability and re-subscribes."""

    def __init__(self, node: Node, msg_type, topic: str, callback: Callable, setting: str,
                 recheck_period_s: float = 1.0, on_incompatible: Callable[[str], None] | None = None,
                 callback_group=None):
        self._node = node
        self._callback_group = callback_group
        self._msg_type = msg_type
        self._topic = topic
        self._callback = callback
        self._setting = setting
        self._on_incompatible = on_incompatible
        self._logged_policies: set[str] = set()
        self._subscription = None
        self.reliability = ""
        self._subscribe("reliable" if setting == "auto" else setting)
        if setting == "auto":
            self.rematch()
            # Humble has no "publisher matched" event, so a timer notices new publishers.
            self._timer = node.create_timer(recheck_period_s, self.rematch)

    @property
    def topic_name(self) -> str:
        """The resolved (namespaced, remapped) input topic."""
        return self._topic_name

    def offered_reliabilities(self) -> list[str]:
        """Reliability of every publisher on the topic ('reliable' / 'best_effort'; others are skipped)."""
        infos = self._node.get_publishers_info_by_topic(self.topic_name)
        return [_NAMES[info.qos_profile.reliability] for info in infos
                if info.qos_profile.reliability in _NAMES]

    def rematch(self) -> None:
        """Re-subscribe when the reliability that matches the current publishers differs from ours.

        With no publisher left the subscription stays as it is: nothing to match, and a camera
        that restarts with the same QoS is then received at once.
        """
        offered = self.offered_reliabilities()
        if not offered:
            return
        wanted = input_reliability(self._setting, offered)
        if wanted != self.reliability:
            self._node.get_logger().info(
                f"{self.topic_name}: subscribing {wanted} to match the publishers (qos_reliability=auto)")
            self._subscribe(wanted)

    def _subscribe(self, reliability: str) -> None:
        if self._subscription is not None:
            self._node.destroy_subscription(self._subscription)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=_POLICIES[reliability])
        events = SubscriptionEventCallbacks(incompatible_qos=self._incompatible)
        self._subscription = self._node.create_subscription(
            self._msg_type, self._topic, self._callback, qos, event_callbacks=events,
            callback_group=self._callback_group)
        # Kept as a string: reading it from the subscription needs its handle, which a diagnostics
        # callback racing the node's destruction would find destroyed.
        self._topic_name = self._subscription.topic_name
        self.reliability = reliability

    @property
    def incompatible(self) -> str:
        """Why a publisher on the topic cannot reach this subscription, or '' when every one can."""
        if self.reliability == "reliable" and "best_effort" in self.offered_reliabilities():
            return self._explain("RELIABILITY")
        return ""

    def _explain(self, policy: str) -> str:
        fix = ("Set qos_reliability:=best_effort (or auto)." if policy == "RELIABILITY"
               else f"The publisher's {policy} setting must change.")
        return (f"{self.topic_name}: a publisher's QoS is incompatible with this subscription "
                f"({policy} policy, qos_reliability={self._setting}); no frames arrive from it. {fix}")

    def _incompatible(self, info) -> None:
        if self._setting == "auto":
            self.rematch()
            return
        policy = qos_policy_name_from_kind(info.last_policy_kind)
        if policy not in self._logged_policies:  # once per policy: the event repeats for every new publisher
            self._logged_policies.add(policy)
            message = self._explain(policy)
            self._node.get_logger().error(message)
            if self._on_incompatible is not None:
                self._on_incompatible(message)
