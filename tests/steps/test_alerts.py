import socket
import threading

from mlpipeline.alerts import Alert, JsonlNotifier, Notifiers, SmtpNotifier, read_alerts


def alert():
    return Alert("mock", "run-1", "train_model", "InjectedFault: boom", "/tmp/run.log")


def test_jsonl_notifier_appends_and_echoes(tmp_path, capsys):
    n = JsonlNotifier(tmp_path / "a" / "alerts.jsonl")
    n.notify(alert())
    n.notify(alert())
    rows = read_alerts(tmp_path / "a" / "alerts.jsonl")
    assert len(rows) == 2 and rows[0]["step"] == "train_model"
    assert "ALERT [mock] run run-1 failed at step train_model" in capsys.readouterr().err


def _smtp_server(received: list[bytes]) -> tuple[int, threading.Thread]:
    """A minimal real SMTP server on loopback: enough of RFC 5321 for smtplib to deliver."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve():
        conn, _ = server.accept()
        f = conn.makefile("rwb")

        def reply(line):
            f.write(line.encode() + b"\r\n")
            f.flush()

        reply("220 localhost ESMTP test")
        while line := f.readline():
            cmd = line.decode().strip().upper()
            if cmd.startswith(("EHLO", "HELO")):
                reply("250 localhost")
            elif cmd == "DATA":
                reply("354 end with .")
                body = b""
                while (chunk := f.readline()) != b".\r\n":
                    body += chunk
                received.append(body)
                reply("250 OK")
            elif cmd == "QUIT":
                reply("221 bye")
                break
            else:
                reply("250 OK")
        conn.close()
        server.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return port, t


def test_smtp_notifier_delivers_to_a_real_server():
    received: list[bytes] = []
    port, thread = _smtp_server(received)
    SmtpNotifier("127.0.0.1", port, ("ops@example.org",)).notify(alert())
    thread.join(10)
    assert len(received) == 1
    assert b"Subject: [mock] pipeline run failed at train_model" in received[0]


def test_one_failing_channel_does_not_hide_the_others(tmp_path, capsys):
    log = tmp_path / "alerts.jsonl"
    Notifiers(SmtpNotifier("127.0.0.1", 1, ("x@y",)), JsonlNotifier(log)).notify(alert())
    assert len(read_alerts(log)) == 1
    assert "alert delivery failed: SmtpNotifier" in capsys.readouterr().err
