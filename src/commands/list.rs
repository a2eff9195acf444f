use super::GlobalOpts;
use super::args::{self, Command, Flag, Parsed};
use lexopt::Parser;

#[derive(Debug)]
pub struct ListArgs {
    pub quiet: bool,
    pub format: String,
}

impl Default for ListArgs {
    fn default() -> Self {
        ListArgs {
            quiet: false,
            format: "table".into(),
        }
    }
}

impl Command for ListArgs {
    const HELP: &'static str = "Usage: berth list [-q] [--format table|json]

List the containers under --root.

  -q, --quiet    only the ids
  -f, --format   table (default) or json
";
    fn flag(&mut self, f: &Flag, p: &mut Parser) -> Parsed<bool> {
        if f.is('q', "quiet") {
            self.quiet = true;
        } else if f.is('f', "format") {
            self.format = args::one_of(p, f, &["table", "json"], Self::HELP)?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }
}

pub fn run(g: &GlobalOpts, a: ListArgs) -> anyhow::Result<i32> {
    let all = crate::container::list(&g.root)?;
    if a.quiet {
        for (s, _, _) in &all {
            println!("{}", s.id);
        }
    } else if a.format == "json" {
        // runc's keys in runc's order (state's), with the owner filled in.
        let items: Vec<_> = all
            .iter()
            .map(|(s, st, owner)| {
                let mut o = s.oci(*st);
                o.owner = owner;
                o
            })
            .collect();
        println!("{}", serde_json::to_string(&items)?);
    } else {
        let rows: Vec<[String; 6]> = all
            .iter()
            .map(|(s, st, owner)| {
                let pid = if *st == crate::container::Status::Stopped {
                    0
                } else {
                    s.pid
                };
                [
                    s.id.clone(),
                    pid.to_string(),
                    st.to_string(),
                    s.bundle.clone(),
                    s.created.clone(),
                    owner.clone(),
                ]
            })
            .collect();
        print!(
            "{}",
            table(
                &["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
                &rows
            )
        );
    }
    Ok(0)
}

/// Columns padded as Go's tabwriter pads runc's (min width 12, padding 3).
fn table(head: &[&str; 6], rows: &[[String; 6]]) -> String {
    let mut widths = head.map(|h| h.len());
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}", w = (widths[i] + 3).max(12)));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(head.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}
