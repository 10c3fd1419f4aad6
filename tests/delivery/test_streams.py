"""TopicStream: offsets reach local sockets in order, each once, whatever the arrival order."""

from __future__ import annotations

from tigateway_channels.delivery.streams import StreamPosition, TopicMessage, TopicStream


def msg(offset: int, epoch: str = "e1") -> TopicMessage:
    return TopicMessage("routes", offset, epoch, f"frame-{offset}", {})


def offsets(messages: list[TopicMessage]) -> list[int]:
    return [m.offset for m in messages]


def stream(last: int = 0, memory: int = 10) -> TopicStream:
    topic = TopicStream("routes", memory)
    topic.start_at(StreamPosition(last, "e1"))
    return topic


def test_in_order_arrivals_are_released_at_once() -> None:
    topic = stream()
    assert offsets(topic.accept(msg(1))) == [1]
    assert offsets(topic.accept(msg(2))) == [2]
    assert topic.last == 2


def test_duplicates_are_dropped() -> None:
    topic = stream()
    topic.accept(msg(1))
    assert topic.accept(msg(1)) == []
    topic.accept(msg(3))
    assert topic.accept(msg(3)) == []


def test_early_arrival_waits_for_the_gap_then_both_go_in_order() -> None:
    topic = stream()
    assert topic.accept(msg(2)) == []
    assert topic.missing() == (1, 1)
    assert offsets(topic.accept(msg(1))) == [1, 2]
    assert topic.missing() is None


def test_gap_filled_from_history_releases_waiting_messages() -> None:
    topic = stream(last=4)
    topic.accept(msg(8))
    assert topic.missing() == (5, 7)
    assert offsets(topic.fill([msg(5), msg(6), msg(7)])) == [5, 6, 7, 8]


def test_fill_ignores_what_was_already_delivered_and_other_epochs() -> None:
    topic = stream(last=4)
    topic.accept(msg(6))
    assert offsets(topic.fill([msg(3), msg(4), msg(5, "old")])) == []
    assert offsets(topic.fill([msg(5)])) == [5, 6]


def test_messages_committed_before_the_worker_listened_are_not_delivered() -> None:
    topic = stream(last=10)
    assert topic.accept(msg(9)) == []
    assert offsets(topic.accept(msg(11))) == [11]


def test_new_epoch_restarts_the_sequence() -> None:
    topic = stream(last=50)
    assert offsets(topic.accept(msg(1, "e2"))) == [1]
    assert topic.epoch == "e2"


def test_skip_to_gives_up_on_offsets_missing_from_history() -> None:
    topic = stream(last=1)
    topic.accept(msg(5))
    assert offsets(topic.skip_to(4)) == [5]


def test_replay_after_comes_from_memory_while_it_reaches() -> None:
    topic = stream(memory=3)
    for n in range(1, 6):
        topic.accept(msg(n))
    assert offsets(topic.replay_after(3) or []) == [4, 5]
    assert offsets(topic.replay_after(2) or []) == [3, 4, 5]
    assert topic.replay_after(1) is None  # offset 2 fell out of memory
    assert topic.replay_after(5) == []


def test_a_stream_started_with_recent_history_replays_it_from_memory() -> None:
    from tigateway_channels.delivery.streams import StreamPosition, TopicMessage, TopicStream

    def message(offset: int) -> TopicMessage:
        return TopicMessage("routes", offset, "e1", f"f{offset}", {})

    stream = TopicStream("routes", 10)
    # Offset 3 was pruned: only the run that ends at the position is kept.
    stream.start_at(StreamPosition(7, "e1"), [message(o) for o in (1, 2, 4, 5, 6, 7)])
    assert stream.replay_after(3) == [message(o) for o in (4, 5, 6, 7)]
    assert stream.replay_after(2) is None
    assert stream.replay_after(7) == []
