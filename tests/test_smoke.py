from support import execute


def test_value(kernel):
    run = execute(kernel, "answer")
    assert run.reply["status"] == "ok", run.reply
    assert run.result["text/plain"] == "42"
