//! Network-namespace test bed (real kernel TCP traffic between namespaces we create).
