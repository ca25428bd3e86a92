//! `make token USER=alice`: a user JWT the dev gateway accepts (valid 12 hours).
//! `make backend-token`: the stand-in for the app backend's IAM signature on backend routes.

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (audience, subject) = match args.as_slice() {
        [flag, name] if flag == "--backend" => (devstack::jwt::DEV_BACKEND_AUDIENCE, name),
        [user] if !user.is_empty() && !user.starts_with("--") => {
            (devstack::jwt::DEV_AUDIENCE, user)
        }
        _ => anyhow::bail!("usage: dev-token USER | dev-token --backend NAME"),
    };
    println!(
        "{}",
        devstack::jwt::issue_for(&devstack::jwt::dev_secret(), subject, audience, 12 * 3600)?
    );
    Ok(())
}
