/// features takes nothing but --help.
#[derive(Default, Debug)]
pub struct FeaturesArgs;

impl super::args::Command for FeaturesArgs {
    const HELP: &'static str = "Usage: berth features

Print what this berth supports: the runtime-spec's features document.
";
}

pub fn run() -> anyhow::Result<i32> {
    println!(
        "{}",
        serde_json::to_string_pretty(&crate::container::features())?
    );
    Ok(0)
}
