//! `userdir import`: users loaded in bulk from JSON lines, all of them or none.
//!
//! Each line is one user in the shape GetUser answers (`userId`, `emailAddress`, `type`, …, times
//! in epoch milliseconds), so that a listing taken from another FinSpace endpoint can be loaded as
//! it is. Every line is checked before anything is written; the users are then written in one
//! transaction with one audit entry.

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::Arc;

use anyhow::Context;
use serde::Deserialize;
use userdir_core::domain::{
    ApiAccess, Email, FirstName, LastName, RoleArn, SharedClock, SystemClock, Timestamp, User,
    UserId, UserStatus, UserType, Violation,
};
use userdir_core::store::AuditRecord;

use super::{backend, print_lines};
use crate::config::Settings;

/// How many problems are listed before the rest are only counted.
const LISTED_PROBLEMS: usize = 20;

/// One line of the file: a user as GetUser answers it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Line {
    user_id: Option<String>,
    email_address: String,
    #[serde(rename = "type")]
    user_type: String,
    status: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    api_access: Option<String>,
    api_access_principal_arn: Option<String>,
    create_time: Option<i64>,
    last_enabled_time: Option<i64>,
    last_disabled_time: Option<i64>,
    last_modified_time: Option<i64>,
    last_login_time: Option<i64>,
}

/// Reads `file` (`-`: standard input) and imports its users into the configured database;
/// creates the database only if `create`. Refused while a server runs on a SQLite database.
pub async fn import(settings: &Settings, file: &str, create: bool) -> anyhow::Result<()> {
    let clock: SharedClock = Arc::new(SystemClock);
    let users = if file == "-" {
        parse(std::io::stdin().lock(), clock.now())
    } else {
        let opened = std::fs::File::open(file).with_context(|| format!("opening {file}"))?;
        parse(std::io::BufReader::new(opened), clock.now())
    }
    .with_context(|| format!("reading {file}"))?;

    let mut backend = backend(settings);
    backend.claim_for_change(create, ", or give --create to make a new one there")?;
    let database = backend.describe();
    let store = backend
        .open(clock.clone())
        .await
        .with_context(|| format!("opening database {database}"))?;
    let count = users.len();
    let audit = AuditRecord {
        time: clock.now(),
        request_id: ulid::Ulid::generate().to_string(),
        caller: "operator:cli".into(),
        operation: "ImportUsers".into(),
        target: None,
        detail: Some(format!("{count} users")),
    };
    let imported = store
        .users
        .import_users(users, settings.limits.max_users, &audit)
        .await;
    store.close().await;
    let imported =
        imported.with_context(|| format!("importing into {database} (nothing was imported)"))?;
    print_lines([format!("{database}: imported {imported} users")])
}

/// Every user of the file, or every problem found in it (by line number).
fn parse(input: impl BufRead, now: Timestamp) -> anyhow::Result<Vec<User>> {
    let mut users = Vec::new();
    let mut problems = Vec::new();
    let mut emails: HashMap<String, usize> = HashMap::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.with_context(|| format!("line {number}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let user = serde_json::from_str::<Line>(&line)
            .map_err(|e| vec![format!("not a user: {e}")])
            .and_then(|line| user_of(line, now));
        match user {
            Ok(user) => {
                let email = user.email.as_str().to_lowercase();
                if let Some(first) = emails.insert(email, number) {
                    problems.push(format!("line {number}: emailAddress repeats line {first}"));
                }
                if let Some(first) = ids.insert(user.id.as_str().to_owned(), number) {
                    problems.push(format!("line {number}: userId repeats line {first}"));
                }
                users.push(user);
            }
            Err(found) => {
                problems.extend(found.into_iter().map(|p| format!("line {number}: {p}")));
            }
        }
    }
    if problems.is_empty() {
        return Ok(users);
    }
    let more = problems.len().saturating_sub(LISTED_PROBLEMS);
    let mut message = format!(
        "{} problem(s), nothing was imported:\n  {}",
        problems.len(),
        problems[..problems.len() - more].join("\n  ")
    );
    if more > 0 {
        message.push_str(&format!("\n  … and {more} more"));
    }
    anyhow::bail!(message)
}

/// The line as a user, or every member that breaks its rule.
fn user_of(line: Line, now: Timestamp) -> Result<User, Vec<String>> {
    let mut problems = Vec::new();
    let mut check = Checker(&mut problems);
    let id = match &line.user_id {
        // The directory's ids are ULIDs (26 characters, ordered by creation), as CreateUser makes.
        Some(id) if ulid::Ulid::from_string(id).is_err() => check.member(
            "userId",
            Err::<UserId, _>(Violation::new("must be a 26-character ULID")),
        ),
        Some(id) => check.member("userId", UserId::parse(id)),
        None => Some(UserId::generate()),
    };
    let email = check.member("emailAddress", Email::parse(&line.email_address));
    let user_type = check.member("type", UserType::parse(&line.user_type));
    let status = check.member(
        "status",
        UserStatus::parse(line.status.as_deref().unwrap_or("ENABLED")),
    );
    let first_name = line
        .first_name
        .as_deref()
        .map(|v| check.member("firstName", FirstName::parse(v)));
    let last_name = line
        .last_name
        .as_deref()
        .map(|v| check.member("lastName", LastName::parse(v)));
    let api_access = check.member(
        "apiAccess",
        ApiAccess::parse(line.api_access.as_deref().unwrap_or("DISABLED")),
    );
    let arn = line
        .api_access_principal_arn
        .as_deref()
        .map(|v| check.member("apiAccessPrincipalArn", RoleArn::parse(v)));
    let (
        Some(id),
        Some(email),
        Some(user_type),
        Some(status),
        Some(api_access),
        Some(first_name),
        Some(last_name),
        Some(arn),
    ) = (
        id,
        email,
        user_type,
        status,
        api_access,
        first_name.transpose_some(),
        last_name.transpose_some(),
        arn.transpose_some(),
    )
    else {
        return Err(problems);
    };
    let create_time = line.create_time.map_or(now, Timestamp::from_millis);
    let enabled_since = (status == UserStatus::Enabled).then_some(create_time);
    Ok(User {
        id,
        email,
        user_type,
        status,
        api_access,
        api_access_principal_arn: arn,
        first_name,
        last_name,
        create_time,
        last_enabled_time: line
            .last_enabled_time
            .map(Timestamp::from_millis)
            .or(enabled_since),
        last_disabled_time: line.last_disabled_time.map(Timestamp::from_millis),
        last_modified_time: line
            .last_modified_time
            .map_or(create_time, Timestamp::from_millis),
        last_login_time: line.last_login_time.map(Timestamp::from_millis),
    })
}

/// Collects what breaks a rule, keeping each member's value if it holds.
struct Checker<'a>(&'a mut Vec<String>);

impl Checker<'_> {
    fn member<T>(&mut self, name: &str, value: Result<T, Violation>) -> Option<T> {
        value
            .map_err(|violation| self.0.push(format!("{name}: {}", violation.rule())))
            .ok()
    }
}

/// An optional member that was given and broke its rule is `None`; one not given is `Some(None)`.
trait TransposeSome<T> {
    fn transpose_some(self) -> Option<Option<T>>;
}

impl<T> TransposeSome<T> for Option<Option<T>> {
    fn transpose_some(self) -> Option<Option<T>> {
        match self {
            None => Some(None),
            Some(None) => None,
            Some(Some(value)) => Some(Some(value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    #[test]
    fn a_listed_user_is_read_as_it_was_answered() {
        let input = r#"{"userId":"01ARZ3NDEKTSV4RRFFQ69G5FAV","emailAddress":"a@example.com","type":"APP_USER","status":"DISABLED","firstName":"Ada","createTime":1000,"lastDisabledTime":2000}"#;
        let users = parse(input.as_bytes(), NOW).expect("parses");
        let user = &users[0];
        assert_eq!(user.id.as_str(), "01ARZ3NDEKTSV4RRFFQ69G5FAV");
        assert_eq!(user.status, UserStatus::Disabled);
        assert_eq!(user.create_time.as_millis(), 1000);
        assert_eq!(user.last_modified_time.as_millis(), 1000);
        assert_eq!(user.last_enabled_time, None);
        assert_eq!(user.first_name.as_ref().map(FirstName::as_str), Some("Ada"));
    }

    #[test]
    fn defaults_make_an_enabled_user_created_now() {
        let users = parse(
            r#"{"emailAddress":"b@example.com","type":"SUPER_USER"}"#.as_bytes(),
            NOW,
        )
        .expect("parses");
        assert_eq!(users[0].status, UserStatus::Enabled);
        assert_eq!(users[0].create_time, NOW);
        assert_eq!(users[0].last_enabled_time, Some(NOW));
        assert_eq!(users[0].api_access, ApiAccess::Disabled);
    }

    #[test]
    fn every_problem_is_named_by_line_and_member() {
        let input = "{\"emailAddress\":\"c@example.com\",\"type\":\"APP_USER\"}\n\
                     \n\
                     {\"emailAddress\":\"C@example.com\",\"type\":\"BOSS\",\"firstName\":\"\"}\n\
                     {\"emailAddress\":\"d@example.com\",\"type\":\"APP_USER\",\"extra\":1}\n";
        let error = parse(input.as_bytes(), NOW)
            .expect_err("refused")
            .to_string();
        assert!(
            error.starts_with("3 problem(s), nothing was imported"),
            "{error}"
        );
        assert!(error.contains("line 3: type: "), "{error}");
        assert!(error.contains("line 3: firstName: "), "{error}");
        assert!(
            error.contains("line 4: not a user: unknown field `extra`"),
            "{error}"
        );
        assert!(
            !error.contains("repeats"),
            "a refused line is not compared: {error}"
        );
    }

    #[test]
    fn a_repeated_email_in_any_case_or_id_and_a_foreign_id_are_refused() {
        let input = "{\"userId\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"emailAddress\":\"e@example.com\",\"type\":\"APP_USER\"}\n\
                     {\"userId\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"emailAddress\":\"E@Example.com\",\"type\":\"APP_USER\"}\n\
                     {\"userId\":\"uROzCaWwGyW3\",\"emailAddress\":\"f@example.com\",\"type\":\"APP_USER\"}\n";
        let error = parse(input.as_bytes(), NOW)
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("line 2: emailAddress repeats line 1"),
            "{error}"
        );
        assert!(error.contains("line 2: userId repeats line 1"), "{error}");
        assert!(
            error.contains("line 3: userId: must be a 26-character ULID"),
            "{error}"
        );
    }
}
