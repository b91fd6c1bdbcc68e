//! `capctl graph`: the capability graph as Graphviz DOT, or as an SVG drawn
//! here (no Graphviz needed), for a browser.
//!
//! Nodes: the supervisor (when something talks to it), components (by
//! kind), regions and devices. Edges carry the kind and rights of the grant:
//! `maps rw`, `drives BAR0`, `irq`, `dma w`, `call`, `signal`, `ring`.
//!
//! The SVG layout is layered, top to bottom: supervisor, applications,
//! servers, drivers, regions, devices — the direction in which trust and
//! hardware access grow. Within a layer, nodes are ordered by the mean
//! position of their neighbours in the layers above (one barycentre pass),
//! which keeps most edges short and uncrossed.

use std::fmt::Write as _;

use crate::model::*;

/// What an edge means; decides its colour and dash.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EdgeKind {
    Map,
    Device,
    Irq,
    Dma,
    Call,
    Signal,
    Ring,
    Fault,
}

impl EdgeKind {
    fn colour(self) -> &'static str {
        match self {
            EdgeKind::Map => "#2b6cb0",
            EdgeKind::Device => "#c05621",
            EdgeKind::Irq => "#d69e2e",
            EdgeKind::Dma => "#c53030",
            EdgeKind::Call => "#2f855a",
            EdgeKind::Signal => "#6b46c1",
            EdgeKind::Ring => "#319795",
            EdgeKind::Fault => "#718096",
        }
    }
    fn dashed(self) -> bool {
        matches!(self, EdgeKind::Signal | EdgeKind::Fault | EdgeKind::Irq)
    }
    fn legend(self) -> &'static str {
        match self {
            EdgeKind::Map => "maps region (rights)",
            EdgeKind::Device => "drives device (BARs, ports)",
            EdgeKind::Irq => "receives IRQ",
            EdgeKind::Dma => "device DMA via IOMMU (rights)",
            EdgeKind::Call => "calls endpoint",
            EdgeKind::Signal => "signals notification",
            EdgeKind::Ring => "ring producer -> consumer",
            EdgeKind::Fault => "fault handler",
        }
    }
    const ALL: [EdgeKind; 8] = [
        EdgeKind::Map,
        EdgeKind::Device,
        EdgeKind::Irq,
        EdgeKind::Dma,
        EdgeKind::Call,
        EdgeKind::Signal,
        EdgeKind::Ring,
        EdgeKind::Fault,
    ];
}

#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub label: String,
    pub sublabel: String,
    pub layer: usize,
    pub fill: &'static str,
}

#[derive(Debug, Clone)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub kind: EdgeKind,
    pub label: String,
}

/// The graph of a system.
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// Layers, top to bottom.
const LAYER_SUPERVISOR: usize = 0;
const LAYER_APP: usize = 1;
const LAYER_SERVER: usize = 2;
const LAYER_DRIVER: usize = 3;
const LAYER_REGION: usize = 4;
const LAYER_DEVICE: usize = 5;

pub fn build_graph(sys: &System) -> Graph {
    let mut nodes = Vec::new();
    let comp_base = 0;
    for c in &sys.components {
        let (layer, fill) = match c.kind {
            ComponentKind::App => (LAYER_APP, "#e6fffa"),
            ComponentKind::Server => (LAYER_SERVER, "#ebf8ff"),
            ComponentKind::Driver => (LAYER_DRIVER, "#fffaf0"),
        };
        nodes.push(Node {
            id: format!("component_{}", c.name.replace('-', "_")),
            label: c.name.clone(),
            sublabel: format!("{} · prio {}", c.kind, c.priority),
            layer,
            fill,
        });
    }
    let region_base = nodes.len();
    let plain: Vec<usize> = (0..sys.regions.len())
        .filter(|&r| sys.regions[r].ring_of.is_none())
        .collect();
    for &r in &plain {
        let region = &sys.regions[r];
        nodes.push(Node {
            id: format!("region_{}", region.name.replace('-', "_")),
            label: region.name.clone(),
            sublabel: format!("region · {}", human_size(region.size)),
            layer: LAYER_REGION,
            fill: "#f7fafc",
        });
    }
    let region_node = |r: usize| plain.iter().position(|&p| p == r).map(|i| region_base + i);
    let device_base = nodes.len();
    for d in &sys.devices {
        let what = match &d.matcher {
            DeviceMatch::PciId { vendor, device } => format!("pci {vendor:04x}:{device:04x}"),
            DeviceMatch::PciAddress { bus, dev, func } => format!("pci {bus:02x}:{dev:02x}.{func}"),
            DeviceMatch::Legacy => "legacy".to_string(),
        };
        nodes.push(Node {
            id: format!("device_{}", d.name.replace('-', "_")),
            label: d.name.clone(),
            sublabel: format!("device · {what}"),
            layer: LAYER_DEVICE,
            fill: "#fff5f5",
        });
    }
    let mut supervisor: Option<usize> = None;
    let mut supervisor_node = |nodes: &mut Vec<Node>| -> usize {
        *supervisor.get_or_insert_with(|| {
            nodes.push(Node {
                id: "supervisor".into(),
                label: SUPERVISOR.into(),
                sublabel: "root task · prio 255".into(),
                layer: LAYER_SUPERVISOR,
                fill: "#edf2f7",
            });
            nodes.len() - 1
        })
    };

    let mut edges = Vec::new();
    for (ci, c) in sys.components.iter().enumerate() {
        let from = comp_base + ci;
        for m in &c.maps {
            if let Some(to) = region_node(m.region) {
                edges.push(Edge {
                    from,
                    to,
                    kind: EdgeKind::Map,
                    label: m.rights.to_string(),
                });
            }
        }
        for (dev, _) in &c.devices {
            let d = &sys.devices[*dev];
            let mut parts: Vec<String> = d
                .bars
                .iter()
                .map(|b| match b.size {
                    Some(s) => format!("BAR{} {}", b.index, human_size(s).replace(' ', "")),
                    None => format!("BAR{} all", b.index),
                })
                .collect();
            if let Some((base, count, _)) = d.ioports {
                parts.push(format!("ports {base:#x}+{count}"));
            }
            edges.push(Edge {
                from,
                to: device_base + dev,
                kind: EdgeKind::Device,
                label: parts.join(", "),
            });
        }
        for (dev, _) in &c.irqs {
            edges.push(Edge {
                from: device_base + dev,
                to: from,
                kind: EdgeKind::Irq,
                label: "irq".into(),
            });
        }
        if let FaultHandler::Component(h) = c.fault_handler {
            edges.push(Edge {
                from,
                to: comp_base + h,
                kind: EdgeKind::Fault,
                label: "faults".into(),
            });
        }
    }
    for (di, d) in sys.devices.iter().enumerate() {
        for w in &d.dma {
            if let Some(to) = region_node(w.region) {
                edges.push(Edge {
                    from: device_base + di,
                    to,
                    kind: EdgeKind::Dma,
                    label: format!("dma {}", w.rights),
                });
            }
        }
    }
    for ch in &sys.channels {
        match &ch.ends {
            Ends::Endpoint {
                server, clients, ..
            } => {
                let to = match server {
                    Some(s) => comp_base + s,
                    None => supervisor_node(&mut nodes),
                };
                for (c, badge, _) in clients {
                    edges.push(Edge {
                        from: comp_base + c,
                        to,
                        kind: EdgeKind::Call,
                        label: format!("{} #{badge}", ch.name),
                    });
                }
            }
            Ends::Notification {
                waiter, signallers, ..
            } => {
                for (s, _) in signallers {
                    edges.push(Edge {
                        from: comp_base + s,
                        to: comp_base + waiter,
                        kind: EdgeKind::Signal,
                        label: ch.name.clone(),
                    });
                }
            }
            Ends::Ring {
                producer,
                consumer,
                entries,
                ..
            } => {
                edges.push(Edge {
                    from: comp_base + producer,
                    to: comp_base + consumer,
                    kind: EdgeKind::Ring,
                    label: format!("{} ({entries})", ch.name),
                });
            }
        }
    }
    Graph { nodes, edges }
}

/// Escapes text for DOT and SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The graph as Graphviz DOT.
pub fn to_dot(sys: &System) -> String {
    let g = build_graph(sys);
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", escape(&sys.name));
    let _ = writeln!(out, "  rankdir=TB; node [fontname=\"Helvetica\", fontsize=11]; edge [fontname=\"Helvetica\", fontsize=9];");
    for layer in 0..=LAYER_DEVICE {
        let members: Vec<&Node> = g.nodes.iter().filter(|n| n.layer == layer).collect();
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {{ rank=same;");
        for n in members {
            let shape = match n.layer {
                LAYER_REGION => "cylinder",
                LAYER_DEVICE => "hexagon",
                _ => "box",
            };
            let _ = writeln!(
                out,
                "    {} [label=\"{}\\n{}\", shape={shape}, style=filled, fillcolor=\"{}\"];",
                n.id,
                escape(&n.label),
                escape(&n.sublabel),
                n.fill
            );
        }
        let _ = writeln!(out, "  }}");
    }
    for e in &g.edges {
        let _ = writeln!(
            out,
            "  {} -> {} [label=\"{}\", color=\"{}\", fontcolor=\"{}\"{}];",
            g.nodes[e.from].id,
            g.nodes[e.to].id,
            escape(&e.label),
            e.kind.colour(),
            e.kind.colour(),
            if e.kind.dashed() {
                ", style=dashed"
            } else {
                ""
            }
        );
    }
    out.push_str("}\n");
    out
}

/// Node box size and spacing in the SVG, in pixels.
const NODE_W: f64 = 150.0;
const NODE_H: f64 = 44.0;
const GAP_X: f64 = 40.0;
const LAYER_GAP: f64 = 120.0;
const MARGIN: f64 = 30.0;
const LEGEND_W: f64 = 230.0;

/// The graph as a self-contained SVG.
pub fn to_svg(sys: &System) -> String {
    let g = build_graph(sys);
    // Layers in use, top to bottom, and the order of nodes within each.
    let mut layers: Vec<Vec<usize>> = Vec::new();
    for layer in 0..=LAYER_DEVICE {
        let members: Vec<usize> = (0..g.nodes.len())
            .filter(|&n| g.nodes[n].layer == layer)
            .collect();
        if !members.is_empty() {
            layers.push(members);
        }
    }
    let widest = layers.iter().map(Vec::len).max().unwrap_or(1) as f64;
    let width = MARGIN * 2.0 + widest * NODE_W + (widest - 1.0).max(0.0) * GAP_X;
    let mut x = vec![0.0f64; g.nodes.len()];
    let mut y = vec![0.0f64; g.nodes.len()];
    for (li, members) in layers.iter_mut().enumerate() {
        if li > 0 {
            // Barycentre of neighbours already placed (in layers above).
            let mut keyed: Vec<(f64, usize, usize)> = members
                .iter()
                .enumerate()
                .map(|(i, &n)| {
                    let xs: Vec<f64> = g
                        .edges
                        .iter()
                        .filter_map(|e| {
                            let other = if e.from == n {
                                e.to
                            } else if e.to == n {
                                e.from
                            } else {
                                return None;
                            };
                            (y[other] > 0.0 || g.nodes[other].layer < g.nodes[n].layer)
                                .then_some(x[other])
                        })
                        .filter(|v| *v > 0.0)
                        .collect();
                    let key = if xs.is_empty() {
                        f64::MAX
                    } else {
                        xs.iter().sum::<f64>() / xs.len() as f64
                    };
                    (key, i, n)
                })
                .collect();
            keyed.sort_by(|a, b| {
                a.0.partial_cmp(&b.0)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.1.cmp(&b.1))
            });
            *members = keyed.into_iter().map(|k| k.2).collect();
        }
        let count = members.len() as f64;
        let row_w = count * NODE_W + (count - 1.0) * GAP_X;
        let start = (width - row_w) / 2.0;
        for (i, &n) in members.iter().enumerate() {
            x[n] = start + i as f64 * (NODE_W + GAP_X) + NODE_W / 2.0;
            y[n] = MARGIN + li as f64 * (NODE_H + LAYER_GAP) + NODE_H / 2.0;
        }
    }
    let height_graph = MARGIN * 2.0
        + layers.len() as f64 * NODE_H
        + (layers.len() as f64 - 1.0).max(0.0) * LAYER_GAP;
    let legend_h = 30.0 + EdgeKind::ALL.len() as f64 * 20.0;
    let total_w = width + LEGEND_W;
    let total_h = height_graph.max(legend_h + MARGIN * 2.0);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total_w:.0}\" height=\"{total_h:.0}\" viewBox=\"0 0 {total_w:.0} {total_h:.0}\" font-family=\"Helvetica, Arial, sans-serif\">"
    );
    let _ = writeln!(out, "<title>{} capability graph</title>", escape(&sys.name));
    let _ = writeln!(out, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(out, "<defs>");
    for k in EdgeKind::ALL {
        let _ = writeln!(
            out,
            "<marker id=\"arrow-{k:?}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{}\"/></marker>",
            k.colour()
        );
    }
    let _ = writeln!(out, "</defs>");
    // Edges first, under the nodes. Parallel edges between the same pair
    // are fanned out so their labels do not sit on each other.
    let mut seen: Vec<(usize, usize)> = Vec::new();
    let mut labels = String::new();
    // Centre and width of every label placed so far.
    let mut placed: Vec<(f64, f64, f64)> = Vec::new();
    for e in &g.edges {
        let pair = (e.from.min(e.to), e.from.max(e.to));
        let nth = seen.iter().filter(|p| **p == pair).count() as f64;
        seen.push(pair);
        let (x1, y1, x2, y2) = endpoints(x[e.from], y[e.from], x[e.to], y[e.to]);
        let bend = 30.0
            * nth
            * if (nth as usize).is_multiple_of(2) {
                1.0
            } else {
                -1.0
            }
            + if y1 == y2 { 40.0 } else { 0.0 };
        let (mx, my) = (
            (x1 + x2) / 2.0 + bend,
            (y1 + y2) / 2.0 - if y1 == y2 { 30.0 + 10.0 * nth } else { 0.0 },
        );
        let dash = if e.kind.dashed() {
            " stroke-dasharray=\"5,4\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<path d=\"M{x1:.1},{y1:.1} Q{mx:.1},{my:.1} {x2:.1},{y2:.1}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\"{dash} marker-end=\"url(#arrow-{:?})\"><title>{} -> {}: {}</title></path>",
            e.kind.colour(),
            e.kind,
            escape(&g.nodes[e.from].label),
            escape(&g.nodes[e.to].label),
            escape(&e.label)
        );
        // Label on the curve a little past its middle, towards the target,
        // moved down until it overlaps no other label.
        let t = 0.6;
        let lx = (1.0 - t) * (1.0 - t) * x1 + 2.0 * t * (1.0 - t) * mx + t * t * x2;
        let mut ly = (1.0 - t) * (1.0 - t) * y1 + 2.0 * t * (1.0 - t) * my + t * t * y2;
        let w = 6.0 * e.label.chars().count() as f64 + 8.0;
        for _ in 0..20 {
            let clash = placed.iter().any(|&(px, py, pw): &(f64, f64, f64)| {
                (px - lx).abs() * 2.0 < pw + w && (py - ly).abs() < 15.0
            });
            if !clash {
                break;
            }
            ly += 15.0;
        }
        placed.push((lx, ly, w));
        let _ = writeln!(
            labels,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"14\" rx=\"3\" fill=\"white\" fill-opacity=\"0.85\"/><text x=\"{lx:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"{}\">{}</text>",
            lx - w / 2.0,
            ly - 8.0,
            ly + 3.0,
            e.kind.colour(),
            escape(&e.label)
        );
    }
    for (n, node) in g.nodes.iter().enumerate() {
        let (left, top) = (x[n] - NODE_W / 2.0, y[n] - NODE_H / 2.0);
        let rx = match node.layer {
            LAYER_REGION => 14,
            LAYER_DEVICE => 0,
            _ => 6,
        };
        let _ = writeln!(
            out,
            "<g><rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"{rx}\" fill=\"{}\" stroke=\"#4a5568\" stroke-width=\"1.2\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" font-weight=\"bold\" text-anchor=\"middle\" fill=\"#1a202c\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#4a5568\">{}</text></g>",
            node.fill,
            x[n],
            y[n] - 3.0,
            escape(&node.label),
            x[n],
            y[n] + 12.0,
            escape(&node.sublabel)
        );
    }
    out.push_str(&labels);
    // Legend.
    let lx = width + 10.0;
    let _ = writeln!(
        out,
        "<text x=\"{lx:.1}\" y=\"{:.1}\" font-size=\"12\" font-weight=\"bold\">edges</text>",
        MARGIN + 4.0
    );
    for (i, k) in EdgeKind::ALL.iter().enumerate() {
        let ly = MARGIN + 24.0 + i as f64 * 20.0;
        let dash = if k.dashed() {
            " stroke-dasharray=\"5,4\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{}\" stroke-width=\"2\"{dash}/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{}</text>",
            lx + 30.0,
            k.colour(),
            lx + 38.0,
            ly + 4.0,
            k.legend()
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Where an edge between two node centres leaves and enters the boxes:
/// the bottom/top edges for different layers, the sides within a layer.
fn endpoints(x1: f64, y1: f64, x2: f64, y2: f64) -> (f64, f64, f64, f64) {
    let h = NODE_H / 2.0;
    if (y1 - y2).abs() < 1.0 {
        let w = NODE_W / 2.0;
        let s = if x2 > x1 { 1.0 } else { -1.0 };
        (x1 + s * w * 0.6, y1 - h, x2 - s * w * 0.6, y2 - h)
    } else if y2 > y1 {
        (x1, y1 + h, x2, y2 - h)
    } else {
        (x1, y1 - h, x2, y2 + h)
    }
}
