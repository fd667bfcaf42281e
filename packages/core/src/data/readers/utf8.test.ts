import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bufferFault, fileFault, invalidUtf8At } from "./utf8.ts";

describe("strict UTF-8", () => {
  it("finds the first invalid byte: stray continuation, overlong, surrogate, cut sequence", () => {
    const bytes = (...b: number[]) => Uint8Array.from(b);
    expect(invalidUtf8At(Buffer.from("héllo ✓ 😀"))).toBe(-1);
    expect(invalidUtf8At(bytes(0x61, 0x80))).toBe(1);
    expect(invalidUtf8At(bytes(0x61, 0xc0, 0xaf))).toBe(1);
    expect(invalidUtf8At(bytes(0xed, 0xa0, 0x80))).toBe(0);
    expect(invalidUtf8At(bytes(0x61, 0xe2, 0x9c))).toBe(1);
    // Not final: the cut sequence is a tail to carry over.
    expect(invalidUtf8At(bytes(0x61, 0xe2, 0x9c), false)).toBe(-1 - 2);
  });

  it("names line and byte in a buffer and in a file read in chunks", async () => {
    expect(bufferFault(Buffer.from("a\nbc\xff", "latin1"))).toEqual({ line: 2, byte: 3, value: 0xff });
    const dir = mkdtempSync(join(tmpdir(), "sft-utf8-"));
    // 3-byte characters straddle the 1 MiB chunk boundaries; the bad byte is on the last line.
    const body = `${"✓".repeat(700_000)}\n${"x".repeat(10)}\n`;
    const file = join(dir, "big.csv");
    writeFileSync(file, Buffer.concat([Buffer.from(body), Buffer.from("ab"), Buffer.from([0xfe])]));
    expect(await fileFault(file)).toEqual({ line: 3, byte: 3, value: 0xfe });
    writeFileSync(file, body);
    expect(await fileFault(file)).toBeNull();
  });
});
