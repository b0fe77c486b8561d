"""Drives one MCP server under cordon with the official MCP Python SDK.

Usage: client.py SPEC.json

The spec (written by tests/e2e) names the command that starts cordon, its
environment and working directory, the tool calls to make, and the paths
and variables to look for in the sandbox's processes. This script starts
the command with the SDK's stdio transport, initializes, lists the tools,
optionally inspects the running sandbox from the outside, makes each call,
and shuts down the way the SDK does (stdin closed, then a grace period).

It prints one JSON object on stdout, which the Rust side checks:
  server       the server's name and version from initialize
  tools        tool names from tools/list
  inspect      per process below cordon: its pid and network namespaces,
               network interfaces, which of the given paths it can see,
               the names in its environment
  calls        per call: is_error and the text content, or the exception
  exit_status  cordon's exit status, recorded by a shell wrapper
  error        set when the session itself failed

Nothing here asserts: the report is data.
"""

import json
import os
import sys
import time
import traceback

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def descendants(root_pid):
    """Pids below root_pid, parents before children."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root_pid]
    while todo:
        pid = todo.pop(0)
        for child in sorted(children.get(pid, [])):
            out.append(child)
            todo.append(child)
    return out


def find_wrapper(marker):
    """The wrapper shell: the process whose argv holds the status file."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if marker.encode() in argv and argv[0].endswith(b"sh"):
            return int(entry)
    return None


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def inspect_process(pid, spec):
    """What one process of the sandbox sees, read from the host's /proc."""
    info = {"pid": pid, "comm": comm(pid)}
    try:
        info["netns"] = os.readlink(f"/proc/{pid}/ns/net")
        info["pidns"] = os.readlink(f"/proc/{pid}/ns/pid")
        with open(f"/proc/{pid}/net/dev") as f:
            info["interfaces"] = [line.split(":")[0].strip() for line in f.readlines()[2:]]
        info["paths"] = {p: os.path.lexists(f"/proc/{pid}/root{p}") for p in spec.get("paths", [])}
        with open(f"/proc/{pid}/environ", "rb") as f:
            names = {item.split(b"=", 1)[0].decode() for item in f.read().split(b"\0") if item}
        info["env"] = sorted(names)
    except OSError as e:
        info["error"] = repr(e)
    return info


def inspect_sandbox(status_file, spec):
    wrapper = find_wrapper(status_file)
    if wrapper is None:
        return {"error": "wrapper process not found"}
    tree = descendants(wrapper)
    cordon = next((p for p in tree if comm(p) == "cordon"), None)
    if cordon is None:
        return {"error": f"no cordon process below {wrapper}: {[comm(p) for p in tree]}"}
    # The sandbox is what runs in cordon's new pid namespace; other
    # children of cordon (its network filter) run outside it.
    return {
        "host_netns": os.readlink("/proc/self/ns/net"),
        "cordon_pidns": os.readlink(f"/proc/{cordon}/ns/pid"),
        "processes": [inspect_process(p, spec) for p in descendants(cordon)],
    }


def text_of(result):
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def session(spec, report, errlog):
    status_file = spec["status_file"]
    # The wrapper records cordon's exit status, which the SDK does not expose.
    params = StdioServerParameters(
        command="/bin/sh",
        args=["-c", '"$@"; echo $? >"$0"', status_file, *spec["command"]],
        env=spec.get("env", {}),
        cwd=spec.get("cwd"),
    )
    async with stdio_client(params, errlog=errlog) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=spec.get("call_timeout", 60)) as s:
            init = await s.initialize()
            report["server"] = {"name": init.server_info.name, "version": init.server_info.version}
            tools = await s.list_tools()
            report["tools"] = sorted(t.name for t in tools.tools)
            if "inspect" in spec:
                report["inspect"] = inspect_sandbox(status_file, spec["inspect"])
            for call in spec.get("calls", []):
                entry = {"tool": call["tool"]}
                try:
                    result = await s.call_tool(call["tool"], call.get("arguments", {}))
                    entry["is_error"] = bool(result.is_error)
                    entry["text"] = text_of(result)
                except Exception as e:  # a JSON-RPC error is a result here
                    entry["exception"] = repr(e)
                report["calls"].append(entry)


async def main(spec):
    report = {"calls": []}
    with open(spec["stderr_file"], "w") as errlog:
        try:
            with anyio.fail_after(spec.get("timeout", 120)):
                await session(spec, report, errlog)
        except Exception:
            report["error"] = traceback.format_exc()
    # The SDK has closed stdin and waited; give the wrapper a moment to
    # write the status of a cordon that is still finishing.
    deadline = time.monotonic() + 10
    status = None
    while time.monotonic() < deadline:
        try:
            with open(spec["status_file"]) as f:
                status = int(f.read().strip())
            break
        except (OSError, ValueError):
            await anyio.sleep(0.05)
    report["exit_status"] = status
    return report


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    print(json.dumps(anyio.run(main, spec)))
