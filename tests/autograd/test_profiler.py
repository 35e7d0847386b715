"""dualgrad.autograd.profiler: what the table, key_averages and the chrome trace
show, that self times add up, and that profiling leaves nothing behind."""

import json
import sys
import threading

import numpy as np
import pytest

import dualgrad as dg
from dualgrad import linalg
from dualgrad._array import engine, ops
from dualgrad._array import tensor as tensor_module
from dualgrad.autograd import profiler

profile = dg.autograd.profiler.profile


def snapshot():
    """Everything profiling may replace, by identity."""
    return {
        "ops": dict(vars(ops)),
        # the modules of the op library: each imports operations of the others
        **{name: dict(vars(module)) for name, module in list(sys.modules.items())
           if name.startswith(ops.__name__ + ".")},
        "dualgrad": dict(vars(dg)),
        "linalg": dict(vars(linalg)),
        "run_backward": (engine.run_backward, dg.autograd._run_backward),
    }


def current_callbacks():
    """The engine's and the tensor module's profiler callbacks (read by swapping)."""
    found = []
    for module in (engine, tensor_module):
        cb = module.set_profiler(None)
        module.set_profiler(cb)
        found.append(cb)
    return found


def assert_restored(before):
    after = snapshot()
    for space in ("ops", "dualgrad", "linalg") + tuple(k for k in before if "." in k):
        changed = [k for k in before[space] if after[space].get(k) is not before[space][k]]
        assert not changed, f"{space} still has replaced attributes: {changed}"
    assert after["run_backward"][0] is before["run_backward"][0]
    assert after["run_backward"][1] is before["run_backward"][1]
    assert current_callbacks() == [None, None]
    assert not profiler._active and not profiler._events and profiler._installed is None


@pytest.fixture
def restored():
    """The test must leave every original in place."""
    before = snapshot()
    assert current_callbacks() == [None, None]
    yield
    assert_restored(before)


def rows(prof):
    return {(a.key, a.phase): a for a in prof.key_averages()}


def test_table_shows_forward_and_backward_operations(restored):
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with profile() as prof:
        y = x ** 2
        y.sum().backward()
    table = str(prof)
    for name in ("power", "PowBackward", "sum", "SumBackward", "autograd.backward"):
        assert name in table
    header = table.splitlines()[1]
    for column in ("Name", "Phase", "Self CPU", "CPU total", "# of Calls"):
        assert column in header
    r = rows(prof)
    assert r[("power", "forward")].count == 1
    assert r[("PowBackward", "backward")].count == 1
    assert r[("SumBackward", "backward")].count == 1
    assert r[("autograd.backward", "backward")].count == 1
    assert "Self CPU time total:" in table
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])


def test_key_averages_counts_every_call(restored):
    x = dg.randn(4, requires_grad=True)
    w = dg.randn(4, 4)
    with profile() as prof:
        for _ in range(3):
            loss = dg.sum(dg.matmul(w, x).exp() * 2.0)
            loss.backward()
        dg.linalg.inv(w + 4 * dg.eye(4))  # one more multiply, and an add
    r = rows(prof)
    expected = {("matmul", "forward"): 3, ("exp", "forward"): 3, ("multiply", "forward"): 4,
                ("add", "forward"): 1, ("sum", "forward"): 3, ("MmBackward", "backward"): 3,
                ("ExpBackward", "backward"): 3, ("MulBackward", "backward"): 3,
                ("SumBackward", "backward"): 3, ("autograd.backward", "backward"): 3,
                ("linalg.inv", "forward"): 1, ("eye", "forward"): 1}
    for key, count in expected.items():
        assert r[key].count == count, key
    for a in prof.key_averages():
        assert 0 <= a.self_cpu_time_total <= a.cpu_time_total + 1e-9
        assert a.cpu_time == pytest.approx(a.cpu_time_total / a.count)


def test_tensor_methods_and_top_level_functions_are_both_seen(restored):
    x = dg.randn(2, 3, requires_grad=True)
    with profile() as prof:
        x.sum()
        dg.sum(x)
        x.reshape(3, 2).T
        x.double()
    r = rows(prof)
    assert r[("sum", "forward")].count == 2
    assert r[("reshape", "forward")].count == 1
    assert r[("T", "forward")].count == 1
    assert r[("double", "forward")].count == 1


def test_operations_called_from_other_modules_of_the_op_library_are_timed(restored):
    # The op library is a package of modules by subject that import one another's
    # operations; a call through such an import is timed like a call through dg.
    x = dg.randn(3, 3, requires_grad=True)
    with profile() as prof:
        y = x * 1.0
        y.clamp_(-0.5, 0.5)                   # clamp_ (shapes) runs clamp (elementwise)
        # matmul's backward rule, recorded, runs matmul through TensorNS (tensor_ns)
        dg.autograd.grad(dg.matmul(y, x).sum(), x, create_graph=True)
    r = rows(prof)
    assert ("clamp_", "forward") in r and ("clamp", "forward") in r
    assert ("matmul", "backward") in r


def test_self_time_excludes_nested_operations(restored):
    x = dg.randn(50, requires_grad=True)
    with profile() as prof:
        x.std().backward()
    events = prof.events()
    by_id = {id(e): e for e in events}
    # std calls var, which calls mean (and subtract, multiply, divide, ...).
    std = next(e for e in events if e.name == "std")
    var = next(e for e in events if e.name == "var")
    mean = next(e for e in events if e.name == "mean")
    assert std.depth == 0 and var.depth == 1 and mean.depth == 2
    assert std.start_ns <= var.start_ns and var.end_ns <= std.end_ns
    assert std.cpu_time_total >= var.cpu_time_total >= mean.cpu_time_total
    # self = total - the totals of the events directly inside
    for parent in (std, var, mean):
        children = [e for e in events if e.depth == parent.depth + 1
                    and parent.start_ns <= e.start_ns and e.end_ns <= parent.end_ns]
        assert children
        direct = sum(e.end_ns - e.start_ns for e in children)
        assert parent.self_ns == parent.end_ns - parent.start_ns - direct
    # The self times add up to the time measured at the top level, once.
    top = sum(e.end_ns - e.start_ns for e in events if e.depth == 0)
    assert sum(e.self_ns for e in events) == top
    assert prof.self_cpu_time_total == pytest.approx(top / 1e3)
    assert len(by_id) == len(events)


def test_operations_run_by_backward_count_as_backward(restored):
    x = dg.randn(5, requires_grad=True)
    with profile() as prof:
        g, = dg.autograd.grad((x ** 3).sum(), x, create_graph=True)
        g.sum().backward()
    r = rows(prof)
    assert ("autograd.grad", "backward") in r
    assert ("power", "forward") in r           # x ** 3
    assert ("power", "backward") in r          # the recorded backward of x ** 3
    assert ("multiply", "backward") in r
    for e in prof.events():
        if e.name.endswith("Backward"):
            assert e.phase == "backward"


def test_custom_function_backward_and_record_function(restored):
    class Cube(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 3 * g * x ** 2

    x = dg.randn(3, requires_grad=True)
    with profile() as prof:
        with profiler.record_function("my loss"):
            y = Cube.apply(x).sum()
        y.backward()
    r = rows(prof)
    assert r[("my loss", "forward")].count == 1
    assert r[("CubeBackward", "backward")].count == 1
    events = prof.events()
    loss = next(e for e in events if e.name == "my loss")
    inside = [e.name for e in events if e.depth == 1 and loss.start_ns <= e.start_ns
              and e.end_ns <= loss.end_ns]
    assert "power" in inside and "sum" in inside


def test_table_sorting_and_row_limit(restored):
    x = dg.randn(30, requires_grad=True)
    with profile() as prof:
        for _ in range(4):
            (x.exp() * x).sum().backward()
    averages = prof.key_averages()
    totals = [a.cpu_time_total for a in averages]
    assert totals == sorted(totals, reverse=True)
    table = averages.table(sort_by="count", row_limit=2)
    body = table.splitlines()[3:5]
    assert len([line for line in table.splitlines() if line.rstrip().endswith(" 4")]) == 2
    assert all(line.split()[-1] == "4" for line in body)
    by_self = averages.table(sort_by="self_cpu_time_total")
    assert by_self.splitlines()[3].split()[0] == max(
        averages, key=lambda a: a.self_cpu_time_total).key
    with pytest.raises(ValueError, match="cpu_time_total"):
        averages.table(sort_by="cuda_time")


def test_chrome_trace(tmp_path, restored):
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    with profile() as prof:
        y = x ** 2
        y.sum().backward()
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())
    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    names = {e["name"] for e in events}
    assert {"power", "PowBackward", "sum", "SumBackward"} <= names
    for e in events:
        assert {"name", "ph", "ts", "dur", "pid", "tid", "cat"} <= set(e)
        assert e["cat"] in ("forward", "backward")
        assert e["ts"] >= 0 and e["dur"] >= 0
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
    assert next(e for e in events if e["name"] == "PowBackward")["cat"] == "backward"
    assert next(e for e in events if e["name"] == "power")["cat"] == "forward"
    prof.export_chrome_trace(tmp_path / "as_path.json")  # a PathLike works too
    assert json.loads((tmp_path / "as_path.json").read_text())["traceEvents"]


def test_nothing_is_installed_outside_a_profile(restored):
    original_sum, public_sum, original_zeros = ops.sum, dg.sum, ops.zeros
    with profile() as prof:
        assert ops.sum is not original_sum and ops.sum.__wrapped__ is original_sum
        # dg.sum (which also takes the scalar tier's values) calls the timed ops.sum
        assert dg.sum is public_sum
        assert ops.zeros is not original_zeros and dg.zeros is ops.zeros
        assert current_callbacks() == [profiler._record, profiler._record]
    assert ops.sum is original_sum and dg.sum is public_sum and dg.zeros is original_zeros
    assert prof.key_averages() == []  # nothing ran


def test_everything_is_restored_after_an_exception(restored):
    x = dg.randn(3, requires_grad=True)
    with pytest.raises(ZeroDivisionError):
        with profile() as prof:
            (x * 2).sum().backward()
            1 / 0
    assert rows(prof)[("MulBackward", "backward")].count == 1


def test_an_exception_inside_an_operation_is_still_timed(restored):
    with profile() as prof:
        with pytest.raises(RuntimeError, match="matmul"):
            dg.matmul(dg.ones(2, 3), dg.ones(2, 3))
    assert rows(prof)[("matmul", "forward")].count == 1


def test_nested_profilers_each_see_their_own_part(restored):
    x = dg.randn(3, requires_grad=True)
    with profile() as outer:
        x.exp()
        with profile() as inner:
            x.sin()
        x.cos()
    assert {k for k, _ in rows(inner)} == {"sin"}
    assert {"exp", "sin", "cos"} <= {k for k, _ in rows(outer)}


def test_profilers_left_out_of_order_restore_everything(restored):
    x = dg.randn(3)
    first, second = profile(), profile()
    first.__enter__()
    second.__enter__()
    x.exp()
    first.__exit__(None, None, None)
    assert profiler._installed is not None           # second is still running
    x.sin()
    second.__exit__(None, None, None)
    assert {k for k, _ in rows(first)} == {"exp"}
    assert {k for k, _ in rows(second)} == {"exp", "sin"}


def test_a_profile_is_entered_once(restored):
    prof = profile()
    with prof:
        pass
    with pytest.raises(RuntimeError, match="only once"):
        with prof:
            pass


def test_results_are_available_after_the_block(restored):
    with profile() as prof:
        with pytest.raises(RuntimeError, match="after its `with` block"):
            prof.key_averages()


def test_disabled_profile_records_nothing(restored):
    original_sum = ops.sum
    with profile(enabled=False) as prof:
        assert ops.sum is original_sum
        dg.ones(3).sum()
    assert prof.key_averages() == [] and prof.events() == []


def test_unsupported_options():
    with pytest.raises(RuntimeError, match="CPU"):
        profile(use_cuda=True)
    with pytest.raises(NotImplementedError, match="record_shapes"):
        profile(record_shapes=True)


def test_operations_of_other_threads_carry_their_thread(restored):
    x = dg.randn(3)
    with profile() as prof:
        worker = threading.Thread(target=lambda: x.tanh())
        worker.start()
        worker.join()
        x.exp()
    events = {e.name: e for e in prof.events()}
    assert events["tanh"].thread != events["exp"].thread
    assert events["exp"].thread == threading.get_native_id()
    assert events["tanh"].depth == 0


def test_profiling_does_not_change_results(restored):
    x = dg.tensor(np.linspace(-1, 1, 5), requires_grad=True)
    (x.sin() * x).mean().backward()
    expected = x.grad.numpy().copy()
    x.grad = None
    with profile():
        (x.sin() * x).mean().backward()
    np.testing.assert_array_equal(x.grad.numpy(), expected)
