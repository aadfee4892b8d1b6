//! Instance → partition mapping, identical to DurableTask.AzureStorage (`Fnv1aHashHelper`):
//! 32-bit FNV-1a over the instance id's UTF-8 bytes, exactly as given, modulo the partition count.
//! Every worker and client of a hub must use the same partition count.

const FNV_OFFSET_BASIS: u32 = 0x811C_9DC5;
const FNV_PRIME: u32 = 0x0100_0193;

/// 32-bit FNV-1a: XOR each byte in, then multiply (wrapping).
pub fn fnv1a_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(FNV_PRIME)
    })
}

/// The partition (control queue index) of an instance. `partition_count` must be 1–16
/// (validated by [`HubNames`](super::HubNames)); 0 is treated as 1.
pub fn partition_index(instance_id: &str, partition_count: u32) -> u32 {
    fnv1a_32(instance_id.as_bytes()) % partition_count.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every vector of reference §1.3: (id, hash, %4, %16).
    const VECTORS: &[(&str, u32, u32, u32)] = &[
        ("", 0x811c9dc5, 1, 5),
        ("a", 0xe40c292c, 0, 12),
        ("foobar", 0xbf9cf968, 0, 8),
        ("abc123", 0x38b29a05, 1, 5),
        ("@counter@myKey", 0x69dfc660, 0, 0),
        ("b0c6b9c3e9a84c2d8d2f3a1e4b5c6d7e", 0x87fcfa77, 3, 7),
        ("ü", 0x119dd44a, 2, 10),
    ];

    #[test]
    fn reference_vectors() {
        for &(id, hash, m4, m16) in VECTORS {
            assert_eq!(fnv1a_32(id.as_bytes()), hash, "hash of {id:?}");
            assert_eq!(partition_index(id, 4), m4, "{id:?} % 4");
            assert_eq!(partition_index(id, 16), m16, "{id:?} % 16");
        }
    }
}
