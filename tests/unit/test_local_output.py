"""local/output.py: the local server's stdout and stderr take whole lines only, each thread's apart."""

from __future__ import annotations

import threading

from local.output import LineWriter


class Recorder:
    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def in_thread(target) -> None:
    thread = threading.Thread(target=target)
    thread.start()
    thread.join()


def test_a_line_started_on_one_thread_is_not_finished_by_another():
    recorder = Recorder()
    writer = LineWriter(recorder)
    writer.write('{"a": 1}')  # what print() does: the text, then the newline in a second write
    in_thread(lambda: print('{"b": 2}', file=writer))
    writer.write("\n")
    assert recorder.writes == ['{"b": 2}\n', '{"a": 1}\n']


def test_complete_lines_leave_in_one_write_and_flush_sends_the_rest():
    recorder = Recorder()
    writer = LineWriter(recorder)
    writer.write("one\ntwo\nthr")
    writer.write("ee")
    assert recorder.writes == ["one\ntwo\n"]
    writer.flush()
    assert recorder.writes == ["one\ntwo\n", "three"]


def test_many_threads_printing_never_share_a_write():
    recorder = Recorder()
    writer = LineWriter(recorder)
    barrier = threading.Barrier(8)

    def printer(index):
        barrier.wait()
        for line in range(200):
            print(f"thread {index} line {line}", file=writer)

    threads = [threading.Thread(target=printer, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(recorder.writes) == sorted(f"thread {i} line {n}\n" for i in range(8) for n in range(200))
