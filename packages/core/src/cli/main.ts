console.log("sft: not built yet");
