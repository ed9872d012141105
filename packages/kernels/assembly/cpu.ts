// asc-flags: --importMemory
// Single-threaded build of the CPU kernels (private, growable memory). Code: _cpu.ts.
export * from "./_cpu";
