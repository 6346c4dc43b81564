"""kcat (Debian's build links librdkafka 2.0.x, older than the Python wheel's) against
fjord-broker: metadata, produce lines, consume them back. Skipped when kcat is not installed."""

import json
import shutil
import subprocess

import pytest

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat/kafkacat not installed (tests/run.sh installs it as root)")
TIMEOUT_S = 60


def kcat(*args, stdin=None):
    proc = subprocess.run([KCAT, *args], input=stdin, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, f"kcat {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def test_metadata_listing(bootstrap):
    out = kcat("-b", bootstrap, "-L")
    assert "1 brokers:" in out, out
    assert f"at {bootstrap}" in out, out
    md = json.loads(kcat("-b", bootstrap, "-L", "-J"))
    assert len(md["brokers"]) == 1
    assert md["brokers"][0]["name"] == bootstrap


@pytest.mark.parametrize("compression", [None, "gzip", "snappy", "lz4", "zstd"])
def test_produce_and_consume_lines(bootstrap, unique, compression):
    topic = unique("kcat")
    lines = [f"line-{i}" for i in range(50)]
    extra = ["-z", compression] if compression else []
    kcat("-b", bootstrap, "-P", "-t", topic, *extra, stdin="\n".join(lines) + "\n")
    out = kcat("-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q")
    assert out.splitlines() == lines  # auto-created with one partition: order is kept

    md = json.loads(kcat("-b", bootstrap, "-L", "-J", "-t", topic))
    [t] = [t for t in md["topics"] if t["topic"] == topic]
    assert len(t["partitions"]) == 1


def test_keys_and_offsets(bootstrap, unique):
    topic = unique("kcat-keys")
    kcat("-b", bootstrap, "-P", "-t", topic, "-K", ":", stdin="a:1\nb:2\nc:3\n")
    out = kcat("-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%p %o %k=%s\n")
    assert out.splitlines() == ["0 0 a=1", "0 1 b=2", "0 2 c=3"]
    out = kcat("-b", bootstrap, "-C", "-t", topic, "-o", "1", "-e", "-q", "-f", "%o %s\n")
    assert out.splitlines() == ["1 2", "2 3"]
