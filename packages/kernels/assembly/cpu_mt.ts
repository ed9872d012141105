// asc-flags: --importMemory --enable threads --sharedMemory --maximumMemory 65536
// Shared-memory build of the CPU kernels for worker threads (same code: _cpu.ts).
export * from "./_cpu";
