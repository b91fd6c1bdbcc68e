//! CNode invocations: decoding them and handing them to the object model's
//! CNode operations (`ward_kernel_objects::cnode_ops`), which check the
//! slots and move capabilities along the derivation tree.
use crate::invocation::{completion, done, Message, Outcome};
use crate::kobj::{objects, KernelHooks};
use ward_abi::invocation::{args, InvocationLabel as Label};
use ward_abi::rights::CapRights;
use ward_kernel_objects::{Cap, InvocationError};

/// Runs CNode invocation `label` on `cnode` (the root of the destination,
/// or only, slot; capability arguments root the others).
pub fn invoke(message: &Message, label: Label, cnode: Cap) -> Result<Outcome, InvocationError> {
    let objects = objects();
    match label {
        Label::CNodeCopy => {
            let a: args::CNodeCopy<_> = message.decode()?;
            objects.cnode_copy(
                cnode,
                a.dest_index,
                a.dest_depth,
                a.src_root.1,
                a.src_index,
                a.src_depth,
                CapRights::from_word(a.rights),
            )?;
            done()
        }
        Label::CNodeMint => {
            let a: args::CNodeMint<_> = message.decode()?;
            objects.cnode_mint(
                cnode,
                a.dest_index,
                a.dest_depth,
                a.src_root.1,
                a.src_index,
                a.src_depth,
                CapRights::from_word(a.rights),
                a.badge,
            )?;
            done()
        }
        Label::CNodeMove => {
            let a: args::CNodeMove<_> = message.decode()?;
            objects.cnode_move(
                cnode,
                a.dest_index,
                a.dest_depth,
                a.src_root.1,
                a.src_index,
                a.src_depth,
            )?;
            done()
        }
        Label::CNodeMutate => {
            let a: args::CNodeMutate<_> = message.decode()?;
            objects.cnode_mutate(
                cnode,
                a.dest_index,
                a.dest_depth,
                a.src_root.1,
                a.src_index,
                a.src_depth,
                a.data,
            )?;
            done()
        }
        Label::CNodeDelete => {
            let a: args::CNodeDelete = message.decode()?;
            completion(objects.cnode_delete(cnode, a.index, a.depth, &mut KernelHooks))
        }
        Label::CNodeRevoke => {
            let a: args::CNodeRevoke = message.decode()?;
            completion(objects.cnode_revoke(cnode, a.index, a.depth, &mut KernelHooks))
        }
        Label::CNodeRotate => {
            let a: args::CNodeRotate<_> = message.decode()?;
            objects.cnode_rotate(
                cnode,
                a.dest_index,
                a.dest_depth,
                a.pivot_root.1,
                a.pivot_index,
                a.pivot_depth,
                a.pivot_data,
                a.src_root.1,
                a.src_index,
                a.src_depth,
                a.src_data,
            )?;
            done()
        }
        Label::CNodeCancelBadgedSends => {
            let a: args::CNodeCancelBadgedSends = message.decode()?;
            objects.cnode_cancel_badged_sends(
                cnode,
                a.index,
                a.depth,
                crate::kobj::restart_syscall,
            )?;
            done()
        }
        _ => Err(InvocationError::illegal("not a CNode invocation")),
    }
}
