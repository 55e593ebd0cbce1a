"""Writes a corrected copy of the upstream ServiceCenter OpenAPI file for schema-driven tests.

Usage: servicecenter_spec.py SOURCE DESTINATION

The corrections are the defects listed in ../shared/specs/servicecenter.md §7:
  - `listwatcher` is listed but not routed since 2.0: removed;
  - find's `x-resource-revsion` request header (a typo, and unused: the server reads `rev`): removed;
  - dependency responses are really {"providers": [...]} and {"consumers": [...]};
  - `/health/readiness` is missing: added (200, empty);
  - the WebSocket heartbeat (`GET .../heartbeat` with an upgrade) is missing: added, answering a
    plain GET with a 400 Error;
  - successful writes answer 200 with an empty text/plain body: `text/plain` is added to what
    those operations produce.
"""

import sys

import yaml

REGISTRY = "/v4/{project}/registry"


def ok_response(op):
    """The 200 response of an operation (YAML may have read the key as a number)."""
    responses = op["responses"]
    return responses.get("200", responses.get(200))


def error_responses():
    return {
        "400": {"description": "bad request", "schema": {"$ref": "#/definitions/Error"}},
        "500": {"description": "internal error", "schema": {"$ref": "#/definitions/Error"}},
    }


def main():
    source, destination = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    paths, definitions = spec["paths"], spec["definitions"]

    paths.pop(f"{REGISTRY}/microservices/{{serviceId}}/listwatcher", None)

    find = paths[f"{REGISTRY}/instances"]["get"]
    find["parameters"] = [p for p in find["parameters"] if p.get("name") != "x-resource-revsion"]

    service_list = {"type": "array", "items": {"$ref": "#/definitions/MicroService"}}
    definitions["GetProvidersResponse"] = {"type": "object", "properties": {"providers": service_list}}
    definitions["GetConsumersResponse"] = {"type": "object", "properties": {"consumers": service_list}}
    ok_response(paths[f"{REGISTRY}/microservices/{{consumerId}}/providers"]["get"])["schema"] = {
        "$ref": "#/definitions/GetProvidersResponse"
    }
    ok_response(paths[f"{REGISTRY}/microservices/{{providerId}}/consumers"]["get"])["schema"] = {
        "$ref": "#/definitions/GetConsumersResponse"
    }

    project = {"name": "project", "in": "path", "required": True, "type": "string"}
    paths[f"{REGISTRY}/health/readiness"] = {
        "get": {
            "summary": "readiness probe",
            "parameters": [project],
            "produces": ["text/plain"],
            "responses": {"200": {"description": "ready"}},
        }
    }

    heartbeat = paths[f"{REGISTRY}/microservices/{{serviceId}}/instances/{{instanceId}}/heartbeat"]
    heartbeat["get"] = {
        "summary": "WebSocket heartbeat: every pong renews the lease; a plain GET is refused",
        "parameters": [
            project,
            {"name": "serviceId", "in": "path", "required": True, "type": "string"},
            {"name": "instanceId", "in": "path", "required": True, "type": "string"},
        ],
        "produces": ["application/json"],
        "responses": {"101": {"description": "switching protocols"}, **error_responses()},
    }

    for operations in paths.values():
        for method, op in operations.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            if "schema" not in (ok_response(op) or {}):
                produces = op.setdefault("produces", list(spec.get("produces", ["application/json"])))
                if "text/plain" not in produces:
                    produces.append("text/plain")

    with open(destination, "w", encoding="utf-8") as f:
        yaml.safe_dump(spec, f, allow_unicode=True, sort_keys=False)


if __name__ == "__main__":
    main()
