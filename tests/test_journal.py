"""The journal: run files merged, torn lines dropped, later records winning; the output lock."""

import os
import subprocess
import sys

import pytest

from augcli.errors import OutputLockedError, OutputWriteError
from augcli.journal import JOURNAL_NAME, RunLog, TaskRecord, read_state, remove_run_files, state_dir, write_journal
from augcli.lock import OutputLock


def record(source, **kw):
    return TaskRecord(source, fingerprint="f", source_sha256="s", rows=[f'{{"output":"{source}"}}'],
                      files={source: "h", source + ".txt": "t"}, **kw)


def test_run_files_merge_into_the_state_and_a_torn_last_line_is_dropped(tmp_path):
    state_dir(tmp_path).mkdir()
    log = RunLog(tmp_path)
    log.append({"begin": "a.png"})
    log.append({"name": "a__aug0.png"})
    log.append({"task": record("a.png").to_plain()})
    log.append({"begin": "b.png"})
    log.append({"name": "b__aug0.png"})
    log.close()
    with open(log.path, "ab") as f:
        f.write(b'{"task":{"source":"b.png","files":{"b__aug0.png":"')  # killed mid-write
    state = read_state(tmp_path)
    assert set(state.records) == {"a.png"} and state.records["a.png"] == record("a.png")
    assert state.named == {"a__aug0.png", "a.png", "a.png.txt", "b__aug0.png"}
    assert state.begun == {"a.png", "b.png"} and set(state.finished) == {"a.png"}
    assert state.dropped_lines == 1


def test_a_failed_record_replaces_an_earlier_good_one_but_its_files_stay_named(tmp_path):
    state_dir(tmp_path).mkdir()
    write_journal(tmp_path, [record("a.png")], {"old.png"})
    log = RunLog(tmp_path)
    log.append({"task": TaskRecord("a.png", error="cannot decode", files={"a.png": ""}).to_plain()})
    state = read_state(tmp_path)
    assert state.records == {} and state.named == {"old.png", "a.png", "a.png.txt"}
    remove_run_files(tmp_path)
    assert os.listdir(state_dir(tmp_path)) == [JOURNAL_NAME]
    assert read_state(tmp_path).records == {"a.png": record("a.png")}


def test_a_failed_journal_write_names_the_journal(tmp_path):
    log = RunLog(tmp_path)  # its folder does not exist
    with pytest.raises(OutputWriteError) as caught:
        log.append({"begin": "a.png"})
    assert caught.value.filename == str(log.path)


def test_a_worker_outliving_a_run_starts_a_new_run_file(tmp_path):
    state_dir(tmp_path).mkdir()
    log = RunLog(tmp_path)
    log.append({"begin": "a.png"})
    remove_run_files(tmp_path)  # the end of the run
    log.reopen_if_removed()
    log.append({"begin": "b.png"})
    assert read_state(tmp_path).begun == {"b.png"}


def test_the_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    out = tmp_path / "out"
    lock = OutputLock.acquire(out / ".augcli" / "lock", out)
    with pytest.raises(OutputLockedError, match=rf"output folder {out} is in use by another augcli run "
                                                rf"\(PID {os.getpid()}\)"):
        OutputLock.acquire(out / ".augcli" / "lock", out)
    lock.release()
    OutputLock.acquire(out / ".augcli" / "lock", out).release()


def test_the_kernel_releases_the_lock_of_a_killed_holder(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from augcli.lock import OutputLock; "
        f"OutputLock.acquire(Path({str(out / '.augcli' / 'lock')!r}), Path({str(out)!r})); "
        "print('held', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert holder.stdout.readline() == "held\n"
    with pytest.raises(OutputLockedError, match=f"PID {holder.pid}"):
        OutputLock.acquire(out / ".augcli" / "lock", out)
    holder.kill()
    holder.wait()
    OutputLock.acquire(out / ".augcli" / "lock", out).release()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forked workers are Linux's and macOS's")
def test_a_killed_holders_forked_children_do_not_keep_the_lock(tmp_path):
    """kill -9 of a run leaves its forked workers dying for a moment; they share the lock's open file
    unless they closed it, and a verify right after was refused (1 in 8 runs of the kill -9 tests)."""
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import os, time; from pathlib import Path; from augcli.lock import OutputLock; "
        f"OutputLock.acquire(Path({str(out / '.augcli' / 'lock')!r}), Path({str(out)!r})); "
        "child = os.fork()\n"
        "if child == 0: time.sleep(60); os._exit(0)\n"
        "print(child, flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    child = int(holder.stdout.readline())
    try:
        with pytest.raises(OutputLockedError, match=f"PID {holder.pid}"):
            OutputLock.acquire(out / ".augcli" / "lock", out)
        holder.kill()
        holder.wait()
        os.kill(child, 0)  # the child lives on, and holds nothing
        OutputLock.acquire(out / ".augcli" / "lock", out).release()
        assert OutputLock.shared(out / ".augcli" / "lock", out) is not None
    finally:
        os.kill(child, 9)


def test_spooled_rows_come_back_as_written_and_shifted_on_demand(tmp_path):
    """The main process keeps manifest lines in a spool file, not in memory; any text survives the trip."""
    import json

    from augcli.journal import RowSpool, SpooledRows, shift_rows

    spool = RowSpool(tmp_path, hold=0)
    tricky = ['{"output":"a.csv","row":0,"text":"line\\u2028sep ☃ \\"q\\" \\\\n"}', '{"output":"a.csv","row":1}']
    first = spool.put(tricky)
    second = spool.put(['{"output":"b.png"}'])
    assert isinstance(first, SpooledRows) and len(first) == 2 and spool.put(first) is first
    assert list(first) == tricky and list(second) == ['{"output":"b.png"}'] and first[1] == tricky[1]
    assert [json.loads(r)["row"] for r in shift_rows(first, 5)] == [5, 6]
    assert [json.loads(r)["row"] for r in shift_rows(shift_rows(first, 5), 2)] == [7, 8]
    assert json.loads(first[0])["text"] == "line\u2028sep ☃ \"q\" \\n"
    assert not list(tmp_path.iterdir())  # an unnamed file: nothing to clean up after a crash
    spool.close()


def test_records_read_into_a_spool_write_the_same_journal(tmp_path):
    from augcli.journal import RowSpool

    state_dir(tmp_path).mkdir()
    records = [record(f"{i}.png") for i in range(3)]
    write_journal(tmp_path, records, {"stray.png"})
    before = (state_dir(tmp_path) / JOURNAL_NAME).read_bytes()
    spool = RowSpool(state_dir(tmp_path), hold=len(records[0].rows[0]))  # the first record's rows stay in memory
    state = read_state(tmp_path, spool=spool)
    assert [isinstance(r.rows, list) for r in state.records.values()] == [True, False, False]
    write_journal(tmp_path, list(state.records.values()), {"stray.png"})
    assert (state_dir(tmp_path) / JOURNAL_NAME).read_bytes() == before
    spool.close()


def test_a_chunk_line_names_the_planned_files_and_only_other_files_get_a_line_each(tmp_path):
    """A worker names every file the plan gives its chunk before writing any; a file the plan does not
    list (a YOLO label file) is still named right before its rename."""
    import json
    from pathlib import Path

    from augcli import runner
    from augcli.dataset import discover
    from augcli.modalities.registry import load_config
    from augcli.plan import build_plan

    sample = Path(__file__).parent.parent / "sample_data" / "detection" / "yolo"
    config = load_config(Path(__file__).parent.parent / "configs" / "detection_yolo.yaml",
                         {"input": str(sample), "output": str(tmp_path / "out"), "copies": 2})
    tasks = build_plan(config, discover(config).items).tasks
    state_dir(config.output).mkdir(parents=True)
    records = runner.process_chunk([(task, "fp") for task in tasks], config)
    assert all(record.ok for record in records)
    events = [json.loads(line) for line in RunLog(config.output).path.read_text().splitlines()]
    chunk = events[0]
    assert chunk["chunk"] == [task.key for task in tasks]
    planned = [name for task in tasks for name in ([task.original] if task.original else []) + list(task.outputs)]
    assert chunk["names"] == planned and len(planned) == 3 + 3 * 2 + 1  # originals, copies, val's image
    one_by_one = [event["name"] for event in events if "name" in event]
    written = {name for record in records for name in record.files}
    assert set(one_by_one) == written - set(planned)  # the label files, val's included
    assert sorted(one_by_one) == [f"labels/train/{stem}{copy}.txt" for stem in ("astronaut", "chelsea", "coffee")
                                  for copy in ("", "__aug0", "__aug1")] + ["labels/val/rocket.txt"]
    state = read_state(config.output)
    assert written <= state.named and set(planned) <= state.named  # every file on disk is named
    on_disk = {p.relative_to(config.output).as_posix() for p in config.output.rglob("*") if p.is_file()}
    assert on_disk - {p for p in on_disk if p.startswith(".augcli/")} == written


def test_the_source_a_killed_worker_was_making_is_the_first_of_its_last_chunk_without_a_record(tmp_path):
    state_dir(tmp_path).mkdir()
    log = RunLog(tmp_path)
    log.append({"chunk": ["a.png", "b.png"], "names": ["a__aug0.png", "b__aug0.png"]})
    log.append({"task": record("a.png").to_plain()})
    log.append({"task": TaskRecord("b.png", error="cannot decode").to_plain()})  # finished, with an error
    log.append({"chunk": ["c.png", "d.png", "e.png"], "names": ["c__aug0.png", "d__aug0.png", "e__aug0.png"]})
    log.append({"task": record("c.png").to_plain()})
    log.close()
    other = tmp_path / ".augcli" / "run-1.jsonl"  # another worker, killed before its first record
    other.write_text('{"chunk":["f.png","g.png"],"names":[]}\n')
    state = read_state(tmp_path, include_journal=False)
    assert state.begun == {"d.png", "f.png"}
    assert state.held == {"a.png", "b.png", "c.png", "d.png", "e.png", "f.png", "g.png"}
    assert set(state.finished) == {"a.png", "b.png", "c.png"} and set(state.records) == {"a.png", "c.png"}
    assert {"d__aug0.png", "e__aug0.png"} <= state.named


def test_after_a_torn_line_nothing_more_is_appended_to_be_glued_to_it(tmp_path, monkeypatch):
    """A nearly full disk takes part of a line: a later line (space came back meanwhile) would continue the
    torn one, and both would be dropped when read, losing the names the second one gave."""
    import augcli.journal as journal

    state_dir(tmp_path).mkdir()
    log = RunLog(tmp_path)
    log.append({"chunk": ["a.png"], "names": ["a__aug0.png"]})
    real_write = os.write
    monkeypatch.setattr(journal.os, "write", lambda fd, data: real_write(fd, data[: len(data) // 2]))
    with pytest.raises(OutputWriteError, match="No space left on device"):
        log.append({"task": record("a.png").to_plain()})
    monkeypatch.setattr(journal.os, "write", real_write)  # space again
    with pytest.raises(OutputWriteError, match="No space left on device"):
        log.append({"chunk": ["b.png"], "names": ["b__aug0.png"]})
    state = read_state(tmp_path, include_journal=False)
    assert state.dropped_lines == 1 and state.named == {"a__aug0.png"} and state.begun == {"a.png"}
    log.close()  # a new run file (a worker outliving the run) starts clean
    log.append({"chunk": ["c.png"], "names": []})


def test_a_runs_journal_holds_each_record_as_encoded_anew_without_library_messages(tmp_path, dataset, monkeypatch):
    """Workers hand back the journal line they wrote (the run's end writes it instead of encoding the record
    again): it must be the line the record gives, and a record with library messages is journaled without them."""
    import json
    import warnings

    from augcli.modalities import image
    from tests.conftest import invoke, write_config

    real = image.process

    def noisy_for_dogs(task, *args, **kwargs):
        if "/dog/" in task.item.relpath:
            warnings.warn("a library's note", UserWarning, stacklevel=1)
        return real(task, *args, **kwargs)

    monkeypatch.setattr(image, "process", noisy_for_dogs)
    cfg = write_config(tmp_path / "c.yaml", copies=2, image={"pipeline": [{"HorizontalFlip": {"p": 0.5}}]})
    result = invoke("run", cfg, "--workers", "2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["warnings"]  # the run reported them
    lines = (state_dir(tmp_path / "out") / JOURNAL_NAME).read_bytes().splitlines(keepends=True)
    tasks = [json.loads(raw)["task"] for raw in lines if raw.startswith(b'{"task"')]
    assert sorted(t["source"] for t in tasks) == sorted(
        f"{split}/{label}/{name}" for split, label, name in
        (p.relative_to(dataset).parts for p in dataset.rglob("*.png")))
    assert all(t["warnings"] == [] for t in tasks)
    for raw in lines:
        if raw.startswith(b'{"task"'):
            assert raw == TaskRecord.from_plain(json.loads(raw)["task"]).journal_line()
