// Source-level adjustments so @huggingface/jinja behaves like Python Jinja2 on real chat templates.

/**
 * Replaces {% generation %} / {% endgeneration %} with raw marker text, applying to the tag the
 * whitespace rules Jinja2 would (lstrip_blocks, trim_blocks, "-" modifiers); without markers the tags
 * are dropped the same way.
 */
export function generationTags(source: string, markers?: { start: string; end: string }): string {
  return source.replace(
    /([ \t]*)\{%([-+]?)\s*(end)?generation\s*([-+]?)%\}(\n?)/g,
    (
      _m,
      indent: string,
      left: string,
      end: string | undefined,
      right: string,
      nl: string,
      offset: number,
    ) => {
      const lineStart = offset === 0 || source[offset - 1] === "\n";
      // lstrip_blocks removes indentation before a tag that starts its line (unless "{%+").
      const keepIndent = left === "+" || !lineStart ? indent : "";
      const mark = markers ? (end ? markers.end : markers.start) : "";
      // trim_blocks removes one newline after the tag (unless "+%}").
      const keepNl = right === "+" ? nl : "";
      if (left === "-") return `{{- ${JSON.stringify(mark)} ${right === "-" ? "-" : ""}}}${keepNl}`;
      if (right === "-") return `${keepIndent}{{ ${JSON.stringify(mark)} -}}`;
      return `${keepIndent}${markerRaw(mark)}${keepNl}`;
    },
  );
}

/** The marker as an expression (so the lexer's own whitespace rules do not touch it); nothing without one. */
function markerRaw(mark: string): string {
  return mark === "" ? "" : `{{ ${JSON.stringify(mark)} }}`;
}

export function compatSource(source: string, markers?: { start: string; end: string }): string {
  // Jinja2's lexer normalizes every newline sequence in the source to "\n".
  return generationTags(source.replace(/\r\n?/g, "\n"), markers);
}
