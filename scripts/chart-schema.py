#!/usr/bin/env python3
"""Writes (or checks) the `config` part of helm/sbc/values.schema.json from `sbc config-schema`.

The SBC's configuration has one schema, the SBC's own (sbc/app/config_schema.json, held to the
configuration readers by tests/unit/app/config_schema_test.cpp). The chart's `config` values are
that configuration, less what the chart sets itself, so their schema is derived from it here,
and a key the SBC does not know is refused by `helm lint` as by `sbc check-config`.

usage: scripts/chart-schema.py --check|--write [PATH_TO_SBC]   (default build/release/sbc/app/sbc)
  --check  exit 1 when values.schema.json differs from what this script would write (CI)
  --write  rewrite values.schema.json
"""
import copy
import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
VALUES_SCHEMA = REPO / "helm/sbc/values.schema.json"

# The SBC sections the chart's `config` passes through, in values.yaml order. `core` comes from
# the chart's own `core` values (Service names, Secrets for the CA and client certificate).
SECTIONS = ["workers", "listeners", "transport", "sip", "log", "policy", "capture", "dns",
            "relay", "media", "metrics"]

ENV = {"pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$"}
ENV_PORT = {"pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}(:[0-9]{1,5})?$"}


def drop(node, *keys):
    for key in keys:
        del node["properties"][key]


def chart_config(sbc_schema):
    props = {k: copy.deepcopy(sbc_schema["properties"][k]) for k in SECTIONS}

    listeners = props["listeners"]
    listeners["minItems"] = 1
    item = listeners["items"]
    drop(item, "tls")  # rendered from the chart's `tls` values (the certificate Secret)
    item["properties"]["servicePort"] = {
        "type": "integer", "minimum": 1, "maximum": 65535,
        "description": "Port of this listener on the SIP Service (default: port)."}
    item["properties"]["advertise"]["anyOf"].append(ENV_PORT)
    item["properties"]["advertise"]["description"] += (
        " \"${POD_IP}\" / \"${NODE_IP}\": the pod's / node's address (\"${NODE_IP}:30060\" with a NodePort).")

    metrics = props["metrics"]
    drop(metrics, "enabled")  # the probes need the endpoint
    metrics["required"] = ["address", "port"]
    address = metrics["properties"]["address"]
    address["anyOf"] += [{"const": ""}, ENV]
    address["not"] = {"anyOf": [{"pattern": r"^127\."}, {"const": "::1"}]}
    address["description"] = ("Address of the endpoint, reachable by Prometheus and the kubelet (not loopback); "
                              "\"\" = 0.0.0.0, or ${POD_IP} with hostNetwork.")

    drop(props["capture"], "directory")  # the capture volume (captureVolume)
    # The credentials and the nonce key come from Secrets (auth values), never from a ConfigMap.
    drop(props["policy"]["properties"]["auth"], "credentials_file", "nonce_key")
    # The chart's `relay` values set these (topologyHiding, maskCallId, tokenKeys from a Secret).
    drop(props["relay"], "topology_hiding", "mask_call_id", "token_keys", "token_key_file")

    return {
        "type": "object",
        "description": "The SBC's configuration (generated from `sbc config-schema` by scripts/chart-schema.py; do not edit).",
        "properties": props,
        "additionalProperties": False,
        "required": ["listeners", "metrics"],
    }


def main():
    args = sys.argv[1:]
    if not args or args[0] not in ("--check", "--write") or len(args) > 2:
        sys.exit(__doc__)
    sbc = args[1] if len(args) == 2 else str(REPO / "build/release/sbc/app/sbc")
    sbc_schema = json.loads(subprocess.run([sbc, "config-schema"], check=True,
                                           capture_output=True, text=True).stdout)
    values = json.loads(VALUES_SCHEMA.read_text())
    values["properties"]["config"] = chart_config(sbc_schema)
    text = json.dumps(values, indent=2, ensure_ascii=False) + "\n"
    if args[0] == "--write":
        VALUES_SCHEMA.write_text(text)
        return
    if VALUES_SCHEMA.read_text() != text:
        sys.exit("helm/sbc/values.schema.json does not embed `sbc config-schema`: "
                 "run scripts/chart-schema.py --write (and review the diff)")


if __name__ == "__main__":
    main()
