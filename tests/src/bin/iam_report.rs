//! `make test`'s report of the IAM grants in template.yaml that no test exercised (the uses the
//! end-to-end tests recorded through the IAM check, tests/src/iam.rs). A report, not a failure:
//! some grants are for paths the tests cannot reach (say so in template.yaml), the rest are
//! candidates for removal.

use std::collections::BTreeSet;

use integration_tests::iam;

fn main() {
    let text = std::fs::read_to_string(iam::uses_file()).unwrap_or_default();
    let used: BTreeSet<(String, String, String)> = text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split('\t').map(str::to_string);
            Some((parts.next()?, parts.next()?, parts.next()?))
        })
        .collect();
    if used.is_empty() {
        println!("iam-report: no uses recorded (run the end-to-end tests first)");
        return;
    }
    let unused = iam::unused(iam::template_grants(), &used);
    if unused.is_empty() {
        println!("iam-report: every grant of template.yaml was exercised by the tests");
        return;
    }
    println!("iam-report: grants of template.yaml no test exercised:");
    for (function, action, resource) in unused {
        println!("  {function:<18} {action:<28} {resource}");
    }
}
