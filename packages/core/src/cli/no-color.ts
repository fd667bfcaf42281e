// citty decides on colour once, when it loads, from NO_COLOR/TERM/CI only: its help would colour a pipe. Imported
// first by main.ts, this turns colour off for output that is not a terminal (FORCE_COLOR keeps it on).
if (!process.stdout.isTTY && process.env.FORCE_COLOR === undefined) process.env.NO_COLOR ??= "1";
