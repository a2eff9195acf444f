//! runc's grammar: `berth [global flags] COMMAND [flags] ARGS`. lexopt splits
//! the words (`--flag value`, `--flag=value`, `-f value`, `-fvalue`, `-ab`,
//! `--`); each command's file says which flags and words it takes, and its
//! help text. Chosen over clap, which built every command's whole definition
//! on each call: a third of the instructions of a `create` and about 250 KB
//! of the binary (issue 7).

use lexopt::{Arg, Parser, ValueExt};
use std::ffi::OsString;
use std::path::PathBuf;
use std::str::FromStr;

/// Why a command line is not run: help was asked for, or it is wrong.
#[derive(Debug, PartialEq)]
pub enum Usage {
    Help(&'static str),
    Error(String, &'static str),
    /// A command berth does not have (runc exits 3 for one).
    UnknownCommand(String),
}

pub type Parsed<T> = Result<T, Usage>;

/// One flag as given, without its value.
pub enum Flag {
    Long(String),
    Short(char),
}

impl Flag {
    /// `-s` or `--long`.
    pub fn is(&self, short: char, long: &str) -> bool {
        match self {
            Flag::Long(l) => l == long,
            Flag::Short(c) => *c == short,
        }
    }

    /// `--long` only.
    pub fn long(&self, long: &str) -> bool {
        matches!(self, Flag::Long(l) if l == long)
    }

    pub fn text(&self) -> String {
        match self {
            Flag::Long(l) => format!("--{l}"),
            Flag::Short(c) => format!("-{c}"),
        }
    }
}

/// What a command takes. `parse` runs the loop; a command only answers for
/// its own flags and words.
pub trait Command: Default {
    const HELP: &'static str;

    /// Takes `flag` and its value (from `p`); false if it is not this command's.
    fn flag(&mut self, _flag: &Flag, _p: &mut Parser) -> Parsed<bool> {
        Ok(false)
    }

    /// Takes a word (an argument that is not a flag); `p` holds the words
    /// after it, for a command that takes the rest whole. False if unwanted.
    fn word(&mut self, _word: String, _p: &mut Parser) -> Parsed<bool> {
        Ok(false)
    }

    /// What is missing, once every word is read.
    fn missing(&self) -> Option<&'static str> {
        None
    }
}

pub fn parse<C: Command>(p: &mut Parser) -> Parsed<C> {
    let mut c = C::default();
    while let Some(arg) = p.next().map_err(|e| error(e, C::HELP))? {
        let flag = match arg {
            Arg::Long("help") | Arg::Short('h') => return Err(Usage::Help(C::HELP)),
            Arg::Long(l) => Flag::Long(l.to_owned()),
            Arg::Short(s) => Flag::Short(s),
            Arg::Value(v) => {
                let w = v.string().map_err(|e| error(e, C::HELP))?;
                if !c.word(w.clone(), p)? {
                    return Err(Usage::Error(format!("unexpected argument {w:?}"), C::HELP));
                }
                continue;
            }
        };
        if !c.flag(&flag, p)? {
            return Err(Usage::Error(
                format!("unknown flag {}", flag.text()),
                C::HELP,
            ));
        }
    }
    match c.missing() {
        Some(what) => Err(Usage::Error(format!("missing {what}"), C::HELP)),
        None => Ok(c),
    }
}

/// The flag's value as text.
pub fn string(p: &mut Parser, help: &'static str) -> Parsed<String> {
    p.value()
        .and_then(|v| v.string())
        .map_err(|e| error(e, help))
}

pub fn path(p: &mut Parser, help: &'static str) -> Parsed<PathBuf> {
    p.value().map(PathBuf::from).map_err(|e| error(e, help))
}

/// The flag's value as a number (or anything else FromStr makes).
pub fn value<T: FromStr>(p: &mut Parser, flag: &Flag, help: &'static str) -> Parsed<T>
where
    T::Err: std::fmt::Display,
{
    let s = string(p, help)?;
    s.parse()
        .map_err(|e| Usage::Error(format!("{} {s:?}: {e}", flag.text()), help))
}

/// The flag's value, one of `allowed`.
pub fn one_of(p: &mut Parser, flag: &Flag, allowed: &[&str], help: &'static str) -> Parsed<String> {
    let s = string(p, help)?;
    if allowed.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(Usage::Error(
            format!("{} {s:?}: one of {}", flag.text(), allowed.join(", ")),
            help,
        ))
    }
}

/// Every word left, as given (a program's own flags included); a leading
/// `--` is dropped.
pub fn rest(p: &mut Parser, help: &'static str) -> Parsed<Vec<String>> {
    let mut words: Vec<OsString> = p.raw_args().map_err(|e| error(e, help))?.collect();
    if words.first().is_some_and(|w| w == "--") {
        words.remove(0);
    }
    words
        .into_iter()
        .map(|w| {
            w.into_string()
                .map_err(|w| Usage::Error(format!("{w:?} is not UTF-8"), help))
        })
        .collect()
}

pub fn error(e: lexopt::Error, help: &'static str) -> Usage {
    Usage::Error(e.to_string(), help)
}

/// The first word is the id; a second is an error.
pub fn id(slot: &mut String, word: String) -> bool {
    if slot.is_empty() {
        *slot = word;
        true
    } else {
        false
    }
}

/// For `missing`: a command whose id never came.
pub fn missing_id(id: &str) -> Option<&'static str> {
    id.is_empty().then_some("the container id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Debug)]
    struct T {
        id: String,
        bundle: Option<PathBuf>,
        all: bool,
        n: u32,
        cmd: Vec<String>,
    }

    impl Command for T {
        const HELP: &'static str = "usage: t";
        fn flag(&mut self, f: &Flag, p: &mut Parser) -> Parsed<bool> {
            if f.is('b', "bundle") {
                self.bundle = Some(path(p, Self::HELP)?);
            } else if f.is('a', "all") {
                self.all = true;
            } else if f.long("n") {
                self.n = value(p, f, Self::HELP)?;
            } else {
                return Ok(false);
            }
            Ok(true)
        }
        fn word(&mut self, w: String, p: &mut Parser) -> Parsed<bool> {
            let first = id(&mut self.id, w);
            if first {
                self.cmd = rest(p, Self::HELP)?;
            }
            Ok(first)
        }
        fn missing(&self) -> Option<&'static str> {
            missing_id(&self.id)
        }
    }

    fn t(words: &[&str]) -> Parsed<T> {
        parse(&mut Parser::from_args(words.iter().copied()))
    }

    #[test]
    fn runc_spellings_of_flags() {
        for words in [
            &["-b", "x", "c1"][..],
            &["--bundle", "x", "c1"],
            &["--bundle=x", "c1"],
            &["-bx", "c1"],
        ] {
            let a = t(words).unwrap();
            assert_eq!(
                (a.bundle.as_deref(), a.id.as_str()),
                (Some(std::path::Path::new("x")), "c1"),
                "{words:?}"
            );
        }
        assert!(t(&["-a", "c1"]).unwrap().all);
        assert_eq!(t(&["--n", "7", "c1"]).unwrap().n, 7);
    }

    #[test]
    fn the_words_after_the_id_are_the_program_s() {
        let a = t(&["-a", "c1", "ls", "-l", "--bundle", "y"]).unwrap();
        assert_eq!(a.cmd, ["ls", "-l", "--bundle", "y"]);
        assert!(a.bundle.is_none());
        assert_eq!(t(&["c1", "--", "ls"]).unwrap().cmd, ["ls"]);
    }

    #[test]
    fn wrong_lines_say_what_is_wrong() {
        let e = |w: &[&str]| match t(w) {
            Err(Usage::Error(m, _)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(e(&["--nope", "c1"]), "unknown flag --nope");
        assert_eq!(e(&["-a"]), "missing the container id");
        assert_eq!(
            e(&["--n", "x", "c1"]),
            "--n \"x\": invalid digit found in string"
        );
        assert!(e(&["--all=yes", "c1"]).contains("--all"));
        assert_eq!(t(&["--help"]).unwrap_err(), Usage::Help("usage: t"));
    }
}
