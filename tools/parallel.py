"""Run shell commands side by side, one per core, and show each one's output when it ends.

    python tools/parallel.py "COMMAND 1" "COMMAND 2" ...

`make test` uses it to run the pytest files and the notebooks under nbval at the same time: each
is single-threaded (one BLAS thread), so on 2 cores the two take as long as the longer one.
Each command's output goes to a temporary file and is printed whole, under a header, when the
command ends (no interleaved lines). Exits 1 if any command failed (after all have ended), and
lists which.
"""
import subprocess
import sys
import tempfile
import time


def main(commands):
    if not commands:
        print(__doc__)
        return 2
    started = []
    for command in commands:
        log = tempfile.TemporaryFile(mode="w+")
        proc = subprocess.Popen(command, shell=True, stdout=log, stderr=subprocess.STDOUT)
        started.append((command, proc, log, time.perf_counter()))
    failed = []
    for command, proc, log, start in started:
        code = proc.wait()
        seconds = time.perf_counter() - start
        log.seek(0)
        print(f"\n=== {command}\n", flush=True)
        sys.stdout.write(log.read())
        print(f"=== exit {code} after {seconds:.0f} s: {command}", flush=True)
        if code != 0:
            failed.append(command)
    if failed:
        print("\nFAILED:\n" + "\n".join(f"  {c}" for c in failed), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
