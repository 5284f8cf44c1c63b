//! miruo's kernel programs. Skeleton until the live-capture issue: it only has to exist so the
//! workspace layout is the final one; it is built for `bpfel-unknown-none` only.
#![no_std]
#![no_main]

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
