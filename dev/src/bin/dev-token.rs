//! `make token USER=alice`: a user JWT the dev gateway accepts (valid 12 hours).

fn main() -> anyhow::Result<()> {
    let user = std::env::args()
        .nth(1)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| anyhow::anyhow!("usage: dev-token USER"))?;
    println!(
        "{}",
        devstack::jwt::issue(&devstack::jwt::dev_secret(), &user, 12 * 3600)?
    );
    Ok(())
}
