//! Every capability survives its two-word encoding.

use proptest::prelude::*;
use ward_abi::rights::CapRights;
use ward_kernel_objects::cap::{Cap, FrameSize, Mapping, ZombieKind};

fn paddr(align_bits: u32) -> impl Strategy<Value = u64> {
    (1u64..1 << (52 - align_bits)).prop_map(move |p| p << align_bits)
}

fn rights() -> impl Strategy<Value = CapRights> {
    (0u64..32).prop_map(CapRights::from_word)
}

fn mapping() -> impl Strategy<Value = Option<Mapping>> {
    prop::option::of(
        (0u16..4096, 0u64..1 << 35).prop_map(|(asid, page)| Mapping {
            asid,
            vaddr: page << 12,
        }),
    )
}

fn cap() -> impl Strategy<Value = Cap> {
    prop_oneof![
        Just(Cap::Null),
        (4u8..48, paddr(4), any::<bool>()).prop_flat_map(|(bits, object, is_device)| {
            (0..=(1u64 << bits)).prop_map(move |free_index| Cap::Untyped {
                object,
                size_bits: bits,
                free_index,
                is_device,
            })
        }),
        (paddr(4), any::<u64>(), rights()).prop_map(|(object, badge, rights)| Cap::Endpoint {
            object,
            badge,
            rights
        }),
        (paddr(5), any::<u64>(), rights()).prop_map(|(object, badge, rights)| Cap::Notification {
            object,
            badge,
            rights
        }),
        (paddr(6), 1u8..27, 0u8..=58, any::<u64>()).prop_map(
            |(object, radix_bits, guard_bits, raw)| {
                let guard = raw & ((1u64 << guard_bits) - 1);
                Cap::CNode {
                    object,
                    radix_bits,
                    guard,
                    guard_bits,
                }
            }
        ),
        (paddr(11), rights()).prop_map(|(object, rights)| Cap::Tcb { object, rights }),
        (paddr(12), any::<bool>(), rights(), any::<bool>(), mapping()).prop_map(
            |(object, large, rights, is_device, mapping)| {
                Cap::Frame {
                    object,
                    size: if large {
                        FrameSize::Large
                    } else {
                        FrameSize::Small
                    },
                    rights,
                    is_device,
                    mapping,
                }
            }
        ),
        (paddr(12), prop::option::of(0u16..4096))
            .prop_map(|(object, asid)| Cap::Pml4 { object, asid }),
        (paddr(12), mapping()).prop_map(|(object, mapping)| Cap::Pdpt { object, mapping }),
        (paddr(12), mapping()).prop_map(|(object, mapping)| Cap::PageDirectory { object, mapping }),
        (paddr(12), mapping()).prop_map(|(object, mapping)| Cap::PageTable { object, mapping }),
        (paddr(12), mapping()).prop_map(|(object, mapping)| Cap::IoPageTable { object, mapping }),
        (paddr(11), any::<bool>()).prop_map(|(tcb, can_grant)| Cap::Reply { tcb, can_grant }),
        (paddr(5), any::<bool>(), any::<u32>()).prop_map(|(object, tcb, remaining)| Cap::Zombie {
            object,
            kind: if tcb {
                ZombieKind::Tcb
            } else {
                ZombieKind::CNode
            },
            remaining
        }),
        Just(Cap::IrqControl),
        any::<u16>().prop_map(|irq| Cap::IrqHandler { irq }),
        Just(Cap::IoPortControl),
        (any::<u16>(), any::<u16>()).prop_map(|(first, last)| Cap::IoPort { first, last }),
        (any::<u16>(), any::<u16>())
            .prop_map(|(requester, domain)| Cap::IoSpace { requester, domain }),
    ]
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(c in cap()) {
        prop_assert_eq!(Cap::decode(c.encode()), c);
    }
}

#[test]
fn the_empty_slot_is_all_zero() {
    assert_eq!(Cap::Null.encode(), [0, 0]);
    assert_eq!(Cap::decode([0, 0]), Cap::Null);
}
