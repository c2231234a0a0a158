"""What the bench's scripts share about running a workload: the environment that puts an agent
build under it, and the ground truth it prints."""
import json
import os


def agent_env(build, output):
    """os.environ with the agent of build ("DIR[,PYINSTR_VAR=VALUE...]") preloaded, writing
    its profiles to output; build None or "-" is a bare run, the environment as it is."""
    env = dict(os.environ)
    if build and build != "-":
        directory, *settings = build.split(",")
        env["LD_PRELOAD"] = os.path.join(os.path.abspath(directory), "libpyinstr.so")
        env["PYINSTR_OUTPUT"] = output
        env["PYINSTR_QUIET"] = "1"
        for setting in settings:
            name, _, value = setting.partition("=")
            env[name] = value
    return env


def parse_truth(stdout):
    """The workload's BENCH-TRUTH line (bytes of its stdout), decoded, or None."""
    for line in stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("BENCH-TRUTH "):
            return json.loads(line[len("BENCH-TRUTH "):])
    return None
