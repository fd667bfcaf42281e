import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeFileAtomic } from "./atomic-write.ts";
import { describeFsError } from "./fs-errors.ts";

const systemError = (code: string, fields: Record<string, unknown>) =>
  Object.assign(new Error(`${code}: boom`), { code, ...fields });

afterEach(() => {
  delete process.env.SFTKIT_FAULT_WRITE;
});

describe("describeFsError", () => {
  it("names the final path of a temp file, the reason and the code", () => {
    const e = systemError("EROFS", { syscall: "open", path: "/x/out/plan.json.tmp-123-0a1b2c3d" });
    expect(describeFsError(e)).toBe("cannot write /x/out/plan.json: the file system is read-only (EROFS)");
  });

  it("says what a full disk needed and has free", () => {
    const e = systemError("ENOSPC", { syscall: "write", path: join(tmpdir(), "x.bin"), bytesNeeded: 2048 });
    expect(describeFsError(e)).toMatch(
      /^cannot write .*x\.bin: no space left on the device \(ENOSPC\); 2\.00 KiB needed, .+ free there$/,
    );
  });

  it("leaves errors that are not file-system failures to the caller", () => {
    expect(describeFsError(new Error("bug"))).toBeNull();
    expect(describeFsError(new TypeError("x is undefined"))).toBeNull();
  });
});

describe("a failed atomic write", () => {
  it("carries the target path and its size, leaves no temp file and keeps the old content", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sft-fs-errors-"));
    const file = join(dir, "plan.json");
    writeFileSync(file, "old");
    process.env.SFTKIT_FAULT_WRITE = "ENOSPC@plan.json";
    const err = await writeFileAtomic(file, "new content").catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ENOSPC", path: file, bytesNeeded: 11 });
    expect(describeFsError(err)).toContain(
      `cannot write ${file}: no space left on the device (ENOSPC); 11 B needed`,
    );
    expect(readFileSync(file, "utf8")).toBe("old");
    expect(readdirSync(dir)).toEqual(["plan.json"]);
  });
});
