#!/usr/bin/python3
"""Check HTTP responses against caseflowd's OpenAPI document (docs/openapi.yaml).

The HTTP end-to-end tests call this on every response they receive, so a
response the contract does not describe fails the test that got it:

    http_openapi.py SPEC METHOD ROUTE STATUS BODYFILE [CONTENT-TYPE]
        one response. ROUTE is a path template of the document
        ("/v1/cases/{id}") or a concrete path ("/v1/cases/CF-000001", a query
        string is ignored); "webhook:NAME" checks a webhook request body
        (METHOD POST, STATUS ignored). CONTENT-TYPE is the response's
        Content-Type header; without it the media type is chosen from the
        document (problem+json for an error, else application/json).
    http_openapi.py SPEC --each LISTFILE
        many: one response per line, "METHOD ROUTE STATUS BODYFILE
        [CONTENT-TYPE]" ("-" reads the list from standard input); stops at
        the first failure.
    http_openapi.py SPEC --check [OPS.C]
        the document itself: YAML, OpenAPI 3.1, every $ref resolves, every
        schema is a valid JSON Schema (Draft 2020-12), every path parameter is
        declared, operation ids are unique, schema examples validate. With
        OPS.C (engine/ops/ops.c), also that every operation of its table is
        documented at its method and route with its name as operationId, and
        that the document has no /v1 operation the table lacks.

Exit 0 when valid, 1 when not, 2 on a usage error; one line on standard
output says which and why. As a module: Spec(path).validate(method, route,
status, body_bytes, content_type) returns None or the reason (a string).

Only /usr/bin/python3 with Debian's python3-yaml and python3-jsonschema
(4.10, Draft202012Validator and RefResolver) and the standard library.
"""

import datetime
import json
import re
import sys

import jsonschema
import yaml
from jsonschema import Draft202012Validator, FormatChecker, RefResolver

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_PROM_LINE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})?'
    r' [-+]?([0-9.eE+-]+|NaN|Inf)( -?[0-9]+)?$')

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value):
    """RFC 3339 date-time (strings only; other types pass, as JSON Schema says)."""
    if not isinstance(value, str):
        return True
    m = _DATE_TIME.match(value)
    if not m:
        raise ValueError("not an RFC 3339 date-time")
    datetime.datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]),
                      min(int(m[6]), 59))
    return True


@FORMATS.checks("date", raises=ValueError)
def _is_date(value):
    if not isinstance(value, str):
        return True
    m = _DATE.match(value)
    if not m:
        raise ValueError("not an RFC 3339 full-date")
    datetime.date(int(m[1]), int(m[2]), int(m[3]))
    return True


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError("duplicate member %r" % key)
        seen[key] = value
    return seen


def _base_type(content_type):
    return content_type.split(";", 1)[0].strip().lower() if content_type else ""


def _is_json_type(media):
    return media in ("application/json", "application/problem+json") or media.endswith("+json")


def _where(error):
    path = "".join("[%d]" % p if isinstance(p, int) else ".%s" % p for p in error.absolute_path)
    return "$" + path


def _template_regex(template):
    parts = re.split(r"(\{[^}/]+\})", template)
    rx = "".join("[^/]+" if p.startswith("{") and p.endswith("}") else re.escape(p)
                 for p in parts)
    return re.compile("^" + rx + "$")


class Spec:
    """An OpenAPI 3.1 document loaded for checking responses."""

    def __init__(self, path):
        with open(path, "rb") as f:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            self.doc = yaml.load(f, Loader=loader)  # noqa: S506 (a safe loader)
        if not isinstance(self.doc, dict):
            raise ValueError("%s: not a YAML mapping" % path)
        self.resolver = RefResolver("", self.doc)
        self.paths = self.doc.get("paths") or {}
        self._matchers = [(t, _template_regex(t)) for t in self.paths]

    # ---- looking things up -----------------------------------------------------------

    def deref(self, node):
        """Follow $ref chains of a component (response, parameter...)."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            _, node = self.resolver.resolve(node["$ref"])
            seen += 1
            if seen > 32:
                raise ValueError("$ref loop")
        return node

    def route_of(self, route):
        """The path template for route (a template or a concrete path), or None."""
        route = route.split("?", 1)[0]
        if route in self.paths:
            return route
        for template, rx in self._matchers:
            if rx.match(route):
                return template
        return None

    def response_for(self, method, route, status):
        """(response object, description of where) or raise ValueError."""
        method = method.lower()
        if route.startswith("webhook:"):
            name = route.split(":", 1)[1]
            item = (self.doc.get("webhooks") or {}).get(name)
            op = item and self.deref(item).get(method)
            if not op or "requestBody" not in op:
                raise ValueError("no webhook %s %s in the document" % (method.upper(), name))
            return self.deref(op["requestBody"]), "webhook %s request body" % name
        template = self.route_of(route)
        responses = (self.doc.get("components") or {}).get("responses") or {}
        if template is None:
            if status == 404 and "NotFound" in responses:
                return self.deref(responses["NotFound"]), "an unknown path"
            raise ValueError("no path %s in the document" % route)
        op = self.paths[template].get(method)
        if op is None:
            if status == 405 and "MethodNotAllowed" in responses:
                where = "a method %s does not take" % template
                return self.deref(responses["MethodNotAllowed"]), where
            raise ValueError("%s does not take %s" % (template, method.upper()))
        table = op.get("responses") or {}
        for key in (str(status), "%dXX" % (status // 100), "%dxx" % (status // 100), "default"):
            if key in table:
                return self.deref(table[key]), "%s %s %s" % (method.upper(), template, key)
        raise ValueError("status %d is not documented for %s %s (documented: %s)"
                         % (status, method.upper(), template, ", ".join(sorted(table))))

    # ---- checking a body -------------------------------------------------------------

    def check_schema_value(self, schema, value):
        """None, or the reason value does not validate against schema."""
        validator = Draft202012Validator(schema, resolver=self.resolver, format_checker=FORMATS)
        errors = list(validator.iter_errors(value))
        if not errors:
            return None
        best = jsonschema.exceptions.best_match(errors)
        message = best.message
        if len(message) > 300:
            message = message[:300] + "..."
        return "%s: %s" % (_where(best), message)

    def validate(self, method, route, status, body, content_type=None):
        """None when the response is what the document says, else the reason."""
        try:
            status = int(status)
            response, where = self.response_for(method, route, status)
        except ValueError as e:
            return str(e)
        content = response.get("content")
        if not content:
            if body.strip():
                return "%s: the document says no body, got %d bytes" % (where, len(body))
            return None
        media = _base_type(content_type)
        if media:
            if media not in content:
                return "%s: content type %s is not documented (documented: %s)" % (
                    where, media, ", ".join(sorted(content)))
        else:
            media = self._guess_media(content, status, body)
        schema = (content[media] or {}).get("schema", {})
        if _is_json_type(media):
            try:
                value = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicates)
            except (UnicodeDecodeError, ValueError) as e:
                return "%s: %s body is not JSON: %s" % (where, media, e)
            why = self.check_schema_value(schema, value)
            return None if why is None else "%s (%s): %s" % (where, media, why)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return "%s: %s body is not UTF-8" % (where, media)
        if media.endswith("yaml"):
            try:
                yaml.safe_load(text)
            except yaml.YAMLError as e:
                return "%s: body is not YAML: %s" % (where, str(e).splitlines()[0])
        if self.route_of(route) == "/metrics" and status == 200:
            return self._check_prometheus(where, text)
        why = self.check_schema_value(schema, text)
        return None if why is None else "%s (%s): %s" % (where, media, why)

    @staticmethod
    def _guess_media(content, status, body):
        """The media type a body without a Content-Type is checked as."""
        looks_json = body.lstrip()[:1] in (b"{", b"[")
        order = ["application/problem+json", "application/json"] if status >= 400 else [
            "application/json", "application/problem+json"]
        if looks_json:
            for media in order + sorted(content):
                if media in content and _is_json_type(media):
                    return media
        for media in sorted(content):
            if not _is_json_type(media):
                return media
        return next(iter(content))

    @staticmethod
    def _check_prometheus(where, text):
        for n, line in enumerate(text.splitlines(), 1):
            if not line or line.startswith("#"):
                continue
            if not _PROM_LINE.match(line):
                return "%s: line %d is not Prometheus text format: %.80s" % (where, n, line)
        return None

    # ---- checking the document -------------------------------------------------------

    def check_document(self):
        """A list of problems with the document itself (empty when none)."""
        problems = []
        version = str(self.doc.get("openapi", ""))
        if not re.match(r"^3\.1\.\d+$", version):
            problems.append("openapi: %r is not 3.1.x" % version)
        for key in ("info", "paths"):
            if key not in self.doc:
                problems.append("%s: missing" % key)
        self._walk(self.doc, "#", problems)
        ids = {}
        for template, item in self.paths.items():
            declared_item = self._param_names(item.get("parameters", []))
            for method in METHODS:
                op = item.get(method)
                if op is None:
                    continue
                here = "%s %s" % (method.upper(), template)
                oid = op.get("operationId")
                if oid in ids:
                    problems.append("%s: operationId %s also on %s" % (here, oid, ids[oid]))
                ids[oid] = here
                names = declared_item | self._param_names(op.get("parameters", []))
                for name in re.findall(r"\{([^}]+)\}", template):
                    if ("path", name) not in names:
                        problems.append("%s: path parameter {%s} is not declared" % (here, name))
                if not op.get("responses"):
                    problems.append("%s: no responses" % here)
        for name, schema in ((self.doc.get("components") or {}).get("schemas") or {}).items():
            if isinstance(schema, dict) and "example" in schema:
                why = self.check_schema_value(schema, schema["example"])
                if why:
                    problems.append("components.schemas.%s.example: %s" % (name, why))
        return problems

    def check_ops_table(self, path):
        """Problems between the document and the operations table in path
        (engine/ops/ops.c: entries {"name", "METHOD", "/route", ...})."""
        with open(path, encoding="utf-8") as f:
            table = re.findall(r'\{\s*"([a-z_.]+)",\s*"(GET|POST|PUT|PATCH|DELETE)",\s*"(/[^"]*)"',
                               f.read())
        problems = []
        if not table:
            return ["%s: no operations found" % path]
        routes = set()
        for name, method, route in table:
            routes.add((method.lower(), route))
            op = (self.paths.get(route) or {}).get(method.lower())
            if op is None:
                problems.append("%s %s (%s) is not documented" % (method, route, name))
            elif op.get("operationId") != name:
                problems.append("%s %s: operationId %r, the table says %r"
                                % (method, route, op.get("operationId"), name))
        for template, item in self.paths.items():
            for method in METHODS:
                if method in item and template.startswith("/v1/") and \
                        template != "/v1/openapi.yaml" and (method, template) not in routes:
                    problems.append("%s %s is documented but not in %s"
                                    % (method.upper(), template, path))
        return problems

    def _param_names(self, params):
        names = set()
        for p in params:
            try:
                p = self.deref(p)
            except Exception:  # reported by _walk
                continue
            names.add((p.get("in"), p.get("name")))
        return names

    def _walk(self, node, where, problems):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    self.resolver.resolve(ref)
                except jsonschema.exceptions.RefResolutionError as e:
                    problems.append("%s: $ref %s does not resolve (%s)" % (where, ref, e))
            for key, value in node.items():
                here = "%s/%s" % (where, key)
                if key == "schema" and isinstance(value, (dict, bool)) or (
                        where.endswith("/components/schemas") and isinstance(value, (dict, bool))):
                    try:
                        Draft202012Validator.check_schema(value)
                    except jsonschema.exceptions.SchemaError as e:
                        problems.append("%s: not a valid JSON Schema: %s" % (here, e.message))
                self._walk(value, here, problems)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                self._walk(value, "%s/%d" % (where, i), problems)


def _one(spec, fields):
    if len(fields) not in (4, 5):
        return "usage: METHOD ROUTE STATUS BODYFILE [CONTENT-TYPE]"
    method, route, status, bodyfile = fields[:4]
    content_type = fields[4].strip() if len(fields) == 5 else None
    if not re.match(r"^[0-9]{3}$", status):
        return "STATUS %r is not a three-digit HTTP status" % status
    try:
        with open(bodyfile, "rb") as f:
            body = f.read()
    except OSError as e:
        return "%s: %s" % (bodyfile, e.strerror)
    return spec.validate(method, route, status, body, content_type)


def main(argv):
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip().split("\n\n")[1])
        return 2 if len(argv) < 3 else 0
    try:
        spec = Spec(argv[1])
    except (OSError, ValueError, yaml.YAMLError) as e:
        print("http_openapi: cannot load %s: %s" % (argv[1], str(e).splitlines()[0]))
        return 2
    if argv[2] == "--check":
        if len(argv) > 4:
            print("http_openapi: usage: SPEC --check [OPS.C]")
            return 2
        problems = spec.check_document()
        if len(argv) == 4:
            try:
                problems += spec.check_ops_table(argv[3])
            except OSError as e:
                print("http_openapi: %s: %s" % (argv[3], e.strerror))
                return 2
        if problems:
            print("http_openapi: %s: %d problems; first: %s"
                  % (argv[1], len(problems), problems[0]))
            for p in problems[1:20]:
                print("#   %s" % p, file=sys.stderr)
            return 1
        print("http_openapi: %s: a valid OpenAPI %s document (%d paths)"
              % (argv[1], spec.doc["openapi"], len(spec.paths)))
        return 0
    if argv[2] == "--each":
        if len(argv) != 4:
            print("http_openapi: usage: SPEC --each LISTFILE")
            return 2
        lines = sys.stdin if argv[3] == "-" else open(argv[3], encoding="utf-8")
        count = 0
        for n, line in enumerate(lines, 1):
            fields = line.split(None, 4)
            if not fields or fields[0].startswith("#"):
                continue
            why = _one(spec, fields)
            if why:
                print("http_openapi: line %d (%s): %s" % (n, " ".join(fields[:3]), why))
                return 1
            count += 1
        print("http_openapi: %d responses valid" % count)
        return 0
    why = _one(spec, argv[2:])
    if why:
        print("http_openapi: %s" % why)
        return 1 if not why.startswith("usage") else 2
    print("http_openapi: %s: valid" % " ".join(argv[2:5]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
