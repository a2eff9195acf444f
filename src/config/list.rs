//! Lists of cpus or memory nodes as the kernel writes them ("0-3,6"): the
//! one reader of that syntax, for execCPUAffinity, memoryPolicy.nodes and
//! a systemd unit's AllowedCPUs and AllowedMemoryNodes.

/// The numbers of a list like "0-3,6", each below `max`, in order; empty
/// parts are skipped ("" is the empty list). None when a part is not a
/// number or a range up from a number, or reaches `max`.
pub fn parse_list(s: &str, max: usize) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        if a > b || b >= max {
            return None;
        }
        out.extend(a..=b);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges() {
        assert_eq!(parse_list("0-2,5", 8), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_list(" 1 ", 8), Some(vec![1]));
        assert_eq!(parse_list("", 8), Some(vec![]));
        assert_eq!(parse_list("3-1", 8), None);
        assert_eq!(parse_list("a", 8), None);
        assert_eq!(parse_list("8", 8), None);
        assert_eq!(parse_list("1-", 8), None);
    }
}
