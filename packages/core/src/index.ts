// The public API of @sftkit/core, exported by name.
export {};
