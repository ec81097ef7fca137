#!/usr/bin/env python3
"""Writes go-fields.txt: what the protobuf reader needs to know of the Go types that the .proto files do not say.

- `pointer package.Message.jsonName`: a scalar field declared as a pointer (`*int32`, `*bool`, `*string`, or a pointer
  to a named string/number type). Its zero value is a value the client set, so the reader keeps it; a non-pointer
  zero is the same as absence and is left out, as Go's JSON encoding leaves it out.
- `inline package.Message.number`: an embedded struct whose JSON is inlined into its parent (`json:",inline"`, such as
  Volume's VolumeSource or Probe's ProbeHandler): the reader merges its fields into the parent object.

Run from this folder with checkouts of kubernetes/api and kubernetes/apimachinery at the tag the .proto files are from:
    python3 go-fields.py ~/src/kubernetes-api ~/src/kubernetes-apimachinery > go-fields.txt
"""
import re
import sys

api, machinery = sys.argv[1], sys.argv[2]
sources = {f"{api}/{group}/types.go": f"k8s.io.api.{group.replace('/', '.')}"
           for group in ["core/v1", "apps/v1", "rbac/v1", "policy/v1", "networking/v1", "autoscaling/v2"]}
sources[f"{machinery}/pkg/apis/meta/v1/types.go"] = "k8s.io.apimachinery.pkg.apis.meta.v1"

texts = {path: open(path, encoding="utf-8").read() for path in sources}
scalars = {"int32", "int64", "bool", "string", "float64"}
for text in texts.values():
    scalars.update(re.findall(r"^type (\w+) (?:string|int32|int64|bool)\s*$", text, re.M))

lines = []
for path, package in sources.items():
    for struct in re.finditer(r"^type (\w+) struct \{(.*?)^\}", texts[path], re.S | re.M):
        body = struct.group(2)
        for field in re.finditer(r"^\s+\w+\s+\*(\w+)\s+`json:\"(\w+)", body, re.M):
            if field.group(1) in scalars:
                lines.append(f"pointer {package}.{struct.group(1)}.{field.group(2)}")
        for field in re.finditer(r"^\s+[\w.]+\s+`json:\",inline\"\s+protobuf:\"bytes,(\d+),", body, re.M):
            lines.append(f"inline {package}.{struct.group(1)}.{field.group(1)}")
print("\n".join(sorted(set(lines))))
