"""%packages / %pip, %ui set, %token, %help, %connect errors: real marimo servers, real kernels."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from support import MarimoServer, execute, free_port, kernel_fixture, server_fixture, started_kernel

pytestmark = pytest.mark.timeout(240)

TOKEN = "tok-9f3c1e7d-never-shown"
UI_NOTEBOOK = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    slider = mo.ui.slider(0, 10, value=2)
    choice = mo.ui.dropdown(["red", "green"], value="red")
    return choice, mo, slider


@app.cell
def _(slider):
    doubled = slider.value * 2
    return (doubled,)


if __name__ == "__main__":
    app.run()
'''


# -- %ui set --------------------------------------------------------------------------------------


ui_server = server_fixture("ui", code=UI_NOTEBOOK)


ui_kernel = kernel_fixture("ui_server", url=True)


def test_ui_set_sets_the_value_and_reruns_dependents(ui_kernel):
    run = execute(ui_kernel, "%ui set slider 7")
    assert run.reply["status"] == "ok", run.reply
    assert "slider.value = 7" in run.stdout
    assert execute(ui_kernel, "doubled").result["text/plain"] == "14"
    run = execute(ui_kernel, "%ui set choice green")
    assert run.reply["status"] == "ok", run.reply
    assert execute(ui_kernel, "choice.value").result["text/plain"] == "'green'"


def test_ui_set_refuses_what_is_not_an_element(ui_kernel):
    run = execute(ui_kernel, "%ui set doubled 3")
    assert run.reply["status"] == "error"
    assert "not a mo.ui element" in run.reply["evalue"]
    run = execute(ui_kernel, "%ui set nothing_here 3")
    assert run.reply["status"] == "error" and "nothing_here" in run.reply["evalue"]
    run = execute(ui_kernel, "%ui get slider")
    assert run.reply["ename"] == "UsageError" and "usage: %ui" in run.reply["evalue"]


def test_ui_completion_offers_element_names(ui_kernel):
    msg_id = ui_kernel.complete("%ui set sl", len("%ui set sl"))
    while True:
        reply = ui_kernel.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert "slider" in reply["content"]["matches"]


# -- %help, %connect ------------------------------------------------------------------------------


def test_help_lists_every_magic_with_one_line_each(ui_kernel):
    from marimo_pair_kernel.magics import load_all

    registry = load_all()
    bundle = execute(ui_kernel, "%help").listing
    text = bundle["text/plain"]
    for name in ("cells", "cell", "graph", "packages", "pip", "ui", "token"):
        assert name in registry
    summaries = {m["name"]: m["summary"] for m in bundle["application/vnd.marimo-pair+json"]}
    for name, m in registry.items():
        assert "\n" not in m.summary
        assert summaries[name] == m.summary
        # The text table may shorten long summaries; each magic still has exactly one line.
        lines = [ln for ln in text.splitlines() if m.summary[:40] in ln]
        assert len(lines) == 1, name
        assert f"%{name}" in lines[0]


def test_connect_to_a_closed_port_is_an_error_with_the_cause(ui_kernel):
    port = free_port()
    run = execute(ui_kernel, f"%connect http://127.0.0.1:{port}")
    assert run.reply["status"] == "error"
    assert str(port) in run.reply["evalue"]
    assert execute(ui_kernel, "doubled").reply["status"] == "ok"  # the old target still works


# -- %token -----------------------------------------------------------------------------------------


token_server = server_fixture("token", token=TOKEN)


def run_with_input(kc, code: str, answer: str, timeout: float = 60):
    """Execute with stdin allowed; answer the one input_request; return (prompt, reply, iopub)."""
    msg_id = kc.execute(code, allow_stdin=True)
    req = kc.get_stdin_msg(timeout=timeout)
    assert req["msg_type"] == "input_request"
    kc.input(answer)
    messages = []
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
        messages.append(m)
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    return req["content"], reply["content"], messages


def test_token_is_asked_hidden_and_never_shown(token_server):
    env = {"MARIMO_PAIR_URL": token_server.url, "XDG_STATE_HOME": str(token_server.state_home)}
    with started_kernel(env) as (_, kc):
        before = execute(kc, "answer")
        assert before.reply["status"] == "error" and "%token" in before.reply["evalue"]

        prompt, reply, messages = run_with_input(kc, "%token", TOKEN)
        assert prompt["password"] is True
        assert reply["status"] == "ok", reply
        assert TOKEN not in repr(reply) and TOKEN not in repr(messages)

        after = execute(kc, "answer")
        assert after.reply["status"] == "ok"
        assert after.result["text/plain"] == "42"
        status = execute(kc, "%status")
        assert TOKEN not in repr(status.messages) and TOKEN not in repr(status.reply)

        prompt, reply, messages = run_with_input(kc, "%token", "wrong-token-value")
        assert reply["status"] == "error"
        assert "wrong-token-value" not in repr(reply) and "wrong-token-value" not in repr(messages)


def test_token_without_stdin_says_what_to_do(token_server):
    with started_kernel({"MARIMO_PAIR_URL": token_server.url}) as (_, kc):
        run = execute(kc, "%token", allow_stdin=False)
        assert run.reply["status"] == "error" and "MARIMO_TOKEN" in run.reply["evalue"]


# -- %packages / %pip -----------------------------------------------------------------------------


def make_wheel(where: Path, name: str = "mpk_probe_pkg", version: str = "0.1") -> Path:
    """A tiny pure-Python wheel, so installing needs no network."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 42\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: marimo-pair-kernel-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    wheel = where / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
        z.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return wheel


@pytest.fixture(scope="module")
def pkg_server(tmp_path_factory):
    """A marimo server in its own venv (which sees our packages through a .pth), so installs stay there."""
    root = tmp_path_factory.mktemp("pkgs")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    # Every site directory this Python sees (a venv's own, and the base one beneath a
    # --system-site-packages venv), so marimo's dependencies resolve there too.
    dirs = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
                          *(p for p in sys.path if p.endswith("site-packages"))])
    (site / "_marimo_pair_tests.pth").write_text("".join(d + "\n" for d in dirs))
    srv = MarimoServer.start(root / "nb", python=str(venv / "bin" / "python"))
    srv.site = site  # type: ignore[attr-defined]
    try:
        yield srv
    finally:
        srv.stop()


pkg_kernel = kernel_fixture("pkg_server", url=True)


def test_packages_add_and_remove(pkg_server, pkg_kernel, tmp_path):
    wheel = make_wheel(tmp_path)
    run = execute(pkg_kernel, f"%packages add {wheel}", timeout=180)
    assert run.reply["status"] == "ok", (run.reply, run.stdout, run.stderr)
    assert list(pkg_server.site.glob("mpk_probe_pkg*"))  # in the server's environment only
    assert execute(pkg_kernel, "import mpk_probe_pkg; mpk_probe_pkg.VALUE").result["text/plain"] == "42"

    run = execute(pkg_kernel, "%packages remove mpk_probe_pkg", timeout=180)
    assert run.reply["status"] == "ok", (run.reply, run.stdout, run.stderr)
    assert not list(pkg_server.site.glob("mpk_probe_pkg*"))


def test_pip_install_and_uninstall(pkg_server, pkg_kernel, tmp_path):
    wheel = make_wheel(tmp_path)
    run = execute(pkg_kernel, f"%pip install {wheel}", timeout=180)
    assert run.reply["status"] == "ok", (run.reply, run.stdout, run.stderr)
    assert list(pkg_server.site.glob("mpk_probe_pkg*"))
    run = execute(pkg_kernel, "%pip uninstall -y mpk_probe_pkg", timeout=180)
    assert run.reply["status"] == "ok", (run.reply, run.stdout, run.stderr)
    assert not list(pkg_server.site.glob("mpk_probe_pkg*"))


def test_a_failed_install_is_an_error(pkg_kernel, tmp_path):
    missing = tmp_path / "mpk_absent_pkg-0.1-py3-none-any.whl"
    run = execute(pkg_kernel, f"%packages add {missing}", timeout=180)
    assert run.reply["status"] == "error"
    assert run.reply["ename"] == "PackageError" and str(missing) in run.reply["evalue"]
    run = execute(pkg_kernel, "%pip install -U something")
    assert run.reply["ename"] == "UsageError"


def test_ui_set_refuses_a_value_the_element_rejects(ui_kernel):
    run = execute(ui_kernel, "%ui set choice purple")
    assert run.reply["status"] == "error"
    assert "choice" in run.reply["evalue"] and "purple" in run.reply["evalue"]


def test_a_token_typed_on_the_magic_line_is_refused_without_echo(ui_kernel):
    for line in ("%token tok-on-the-line-5678", "%token --tok-on-the-line-5678 -x"):
        run = execute(ui_kernel, line)
        assert run.reply["ename"] == "UsageError"
        shown = [m for m in run.messages if m["msg_type"] != "execute_input"]  # the client's own echo
        assert "tok-on-the-line-5678" not in repr(run.reply) and "tok-on-the-line-5678" not in repr(shown)
