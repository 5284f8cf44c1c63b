//! Types shared by the kernel programs (`miruo-ebpf`) and user space (`miruo`): the ring-buffer
//! record and the counters. `no_std`, so the eBPF side can use it; the `user` feature adds what
//! only user space needs.
#![no_std]
