#!/usr/bin/env python3
"""Render every fixture chat template with Python Jinja2 set up exactly as transformers'
`_compile_jinja_template` does (utils/chat_template_utils.py), for byte-parity tests of the
TypeScript renderer.

Usage (needs Debian's python3-jinja2; no transformers required):
  python3 generate_goldens.py [/path/to/shared/fixtures]
Writes chat_templates.json beside this script, and builtins.json when builtins.json.in exists.
"""

import hashlib
import json
import os
import sys
from datetime import datetime

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../../../../../shared/fixtures")
TOKENIZERS = os.path.join(FIXTURES, "tokenizers")
# Fixed clock: templates that print today's date must render the same in both languages.
NOW = datetime(2026, 1, 15, 12, 0, 0)


class AssistantTracker(jinja2.ext.Extension):
    # transformers' {% generation %} tag; rendering outside the tracker passes the body through.
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return NOW.strftime(fmt)


def compile_template(source):
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def discover():
    """(id, source) for every template in the fixtures; ids are paths relative to tokenizers/."""
    out = []
    for root, _dirs, files in os.walk(TOKENIZERS):
        for f in sorted(files):
            path = os.path.join(root, f)
            rel = os.path.relpath(path, TOKENIZERS)
            if f.endswith(".jinja") or f.endswith(".jinja2"):
                # newline="": keep CRLF bytes; Jinja2's lexer normalizes them itself.
                with open(path, encoding="utf-8", newline="") as fh:
                    out.append((rel, fh.read()))
            elif f == "tokenizer_config.json" or (f.endswith(".json") and "mistral.rs" in rel):
                with open(path, encoding="utf-8") as fh:
                    ct = json.load(fh).get("chat_template")
                if isinstance(ct, str):
                    out.append((rel, ct))
                elif isinstance(ct, list):
                    for e in ct:
                        out.append((rel + "#" + e["name"], e["template"]))
            elif rel.endswith("ollama/index.json"):
                with open(path, encoding="utf-8") as fh:
                    # Names repeat in ollama's index: the position keeps ids unique.
                    for i, e in enumerate(json.load(fh)):
                        out.append((rel + "#" + str(i) + "-" + e["name"], e["template"]))
    out.sort()
    return out


def special_context(template_id):
    """The special tokens transformers would pass: from the tokenizer_config.json when there is one."""
    with open(os.path.join(HERE, "conversations.json"), encoding="utf-8") as fh:
        ctx = dict(json.load(fh)["context"])
    cfg_path = os.path.join(TOKENIZERS, template_id.split("#")[0])
    if cfg_path.endswith("tokenizer_config.json"):
        with open(cfg_path, encoding="utf-8") as fh:
            cfg = json.load(fh)
        for k in ("bos_token", "eos_token", "unk_token", "pad_token"):
            v = cfg.get(k)
            if isinstance(v, dict):
                v = v.get("content")
            if isinstance(v, str):
                ctx[k] = v
            elif k in cfg and v is None:
                ctx[k] = None
    return ctx


def render_cases(source, ctx, cases):
    out = {}
    try:
        tmpl = compile_template(source)
    except Exception as e:  # noqa: BLE001
        return {"compile_error": f"{type(e).__name__}: {e}"}
    for case in cases:
        kwargs = dict(ctx)
        kwargs["messages"] = case["messages"]
        kwargs["add_generation_prompt"] = case["add_generation_prompt"]
        if "tools" in case:
            kwargs["tools"] = case["tools"]
        try:
            out[case["name"]] = {"text": tmpl.render(**kwargs)}
        except Exception as e:  # noqa: BLE001
            out[case["name"]] = {"error": f"{type(e).__name__}: {e}"}
    return out


def main():
    with open(os.path.join(HERE, "conversations.json"), encoding="utf-8") as fh:
        cases = json.load(fh)["cases"]
    result = {"jinja2": jinja2.__version__, "now": NOW.isoformat(), "templates": {}}
    for tid, source in discover():
        entry = {"sha256": hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]}
        entry["context"] = special_context(tid)
        entry.update(render_cases(source, entry["context"], cases))
        result["templates"][tid] = entry
    with open(os.path.join(HERE, "chat_templates.json"), "w", encoding="utf-8") as fh:
        json.dump(result, fh, ensure_ascii=False, indent=0, sort_keys=True)
        fh.write("\n")
    print(f"{len(result['templates'])} templates")

    # Builtin templates: sources exported by builtins.ts into builtins.in.json (see builtins.test.ts).
    bpath = os.path.join(HERE, "builtins.in.json")
    if os.path.exists(bpath):
        with open(bpath, encoding="utf-8") as fh:
            builtins = json.load(fh)
        out = {}
        for name, source in sorted(builtins.items()):
            ctx = json.load(open(os.path.join(HERE, "conversations.json"), encoding="utf-8"))["context"]
            out[name] = {"sha256": hashlib.sha256(source.encode("utf-8")).hexdigest()[:16], **render_cases(source, ctx, cases)}
        with open(os.path.join(HERE, "builtins.json"), "w", encoding="utf-8") as fh:
            json.dump(out, fh, ensure_ascii=False, indent=0, sort_keys=True)
            fh.write("\n")
        print(f"{len(out)} builtin templates")


def snippets():
    """Small Python-Jinja2 behaviours (None printing, str methods, filters...) for snippets.test.ts."""
    with open(os.path.join(HERE, "snippets.in.json"), encoding="utf-8") as fh:
        items = json.load(fh)
    out = []
    for source, ctx in items:
        try:
            out.append({"text": compile_template(source).render(**ctx)})
        except Exception as e:  # noqa: BLE001
            out.append({"error": f"{type(e).__name__}: {e}"})
    with open(os.path.join(HERE, "snippets.json"), "w", encoding="utf-8") as fh:
        json.dump(out, fh, ensure_ascii=False, indent=0)
        fh.write("\n")
    print(f"{len(out)} snippets")


if __name__ == "__main__":
    main()
    snippets()
