//! Reports of content and people, and their resolution by admins.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::Audit;
use super::comments::DeleteComment;
use super::moderation::Ban;
use super::notifications::{self, Kind, New};
use super::posts::DeletePost;
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};

/// What was reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Post,
    Comment,
    User,
    Message,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Post => "post",
            Subject::Comment => "comment",
            Subject::User => "user",
            Subject::Message => "message",
        }
    }

    pub fn parse(s: &str) -> Option<Subject> {
        Some(match s {
            "post" => Subject::Post,
            "comment" => Subject::Comment,
            "user" => Subject::User,
            "message" => Subject::Message,
            _ => return None,
        })
    }
}

/// What an admin does about a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing was wrong.
    Dismiss,
    /// The post or comment is deleted.
    Remove,
    /// The author is banned (and a reported post or comment deleted).
    Ban,
}

impl Action {
    /// The outcome stored and shown to the reporter.
    pub fn outcome(self) -> &'static str {
        match self {
            Action::Dismiss => "dismissed",
            Action::Remove => "removed",
            Action::Ban => "banned",
        }
    }
}

/// A report, checked by the caller (the reporter may see the subject;
/// `author` is its author; `snapshot` the copy of a reported message).
/// Answers the report's id: reporting the same thing again answers the
/// first report, so a retry or a double tap files one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateReport {
    pub id: Id,
    pub reporter: Id,
    pub subject: Subject,
    pub subject_id: Id,
    pub author: Option<Id>,
    pub reason: String,
    pub note: String,
    pub snapshot: Option<String>,
}

impl Command for CreateReport {
    type Reply = Id;
    fn apply(self, conn: &Connection) -> Result<Id, CmdError> {
        let existing: Option<i64> = conn
            .prepare_cached(
                "SELECT id FROM reports WHERE reporter_id = ? AND subject_kind = ? AND subject_id = ?",
            )?
            .query_row(
                params![self.reporter.0, self.subject.as_str(), self.subject_id.0],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = existing {
            return Ok(Id(id));
        }
        conn.prepare_cached(
            "INSERT INTO reports (id, reporter_id, subject_kind, subject_id, author_id, reason,
                                  note, snapshot, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            self.id.0,
            self.reporter.0,
            self.subject.as_str(),
            self.subject_id.0,
            self.author.map(|a| a.0),
            self.reason,
            self.note,
            self.snapshot,
            now_ms()
        ])?;
        Ok(self.id)
    }
}

/// Resolves an open report, and every other open report of the same
/// subject with it; acts on the content and its author; tells each
/// reporter. Answers the reporters told, for the live push.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResolveReport {
    pub report: Id,
    pub admin: Id,
    pub action: Action,
}

/// A reporter told of an outcome: who, and the notification's id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Told {
    pub user: Id,
    pub notification: Id,
}

impl Command for ResolveReport {
    type Reply = Vec<Told>;
    fn apply(self, conn: &Connection) -> Result<Vec<Told>, CmdError> {
        let row: Option<(String, i64, Option<i64>, String)> = conn
            .prepare_cached(
                "SELECT subject_kind, subject_id, author_id, status FROM reports WHERE id = ?",
            )?
            .query_row([self.report.0], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((kind, subject_id, author, status)) = row else {
            return Err(CmdError::NotFound("report not found".into()));
        };
        if status != "open" {
            return Err(CmdError::Conflict("that report is already resolved".into()));
        }
        let subject = Subject::parse(&kind)
            .ok_or_else(|| CmdError::Internal(format!("bad report subject {kind}")))?;
        let subject_id = Id(subject_id);
        let removable = matches!(subject, Subject::Post | Subject::Comment);
        if self.action == Action::Remove && !removable {
            return Err(CmdError::Invalid(
                "only a post or a comment can be removed; dismiss the report or ban its author"
                    .into(),
            ));
        }
        if self.action != Action::Dismiss && removable {
            remove(conn, subject, subject_id, self.admin)?;
        }
        if self.action == Action::Ban {
            let author = author.ok_or_else(|| {
                CmdError::Conflict("the author's account no longer exists".into())
            })?;
            match (Ban {
                user: Id(author),
                banned: true,
            })
            .apply(conn)
            {
                // Banned already (another report, another admin): the
                // report is resolved all the same.
                Ok(()) | Err(CmdError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let now = now_ms();
        let resolved: Vec<(i64, Option<i64>)> = conn
            .prepare_cached(
                "UPDATE reports SET status = 'resolved', outcome = ?, resolved_by = ?, resolved_at = ?
                 WHERE status = 'open' AND subject_kind = ? AND subject_id = ?
                 RETURNING id, reporter_id",
            )?
            .query_map(
                params![self.action.outcome(), self.admin.0, now, kind, subject_id.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .collect::<Result<_, _>>()?;
        let mut told = Vec::new();
        for (report, reporter) in resolved {
            let Some(reporter) = reporter else { continue };
            let n = New {
                id: Id::generate(),
                user: Id(reporter),
                kind: Kind::ReportResolved,
                actor: self.admin,
                subject: Id(report),
                object: None,
            };
            if notifications::insert(conn, &n)? {
                told.push(Told {
                    user: n.user,
                    notification: n.id,
                });
            }
        }
        Ok(told)
    }
}

impl Audit for ResolveReport {
    fn action(&self) -> &'static str {
        "report.resolve"
    }
    fn target(&self) -> String {
        format!("report:{}", self.report)
    }
    fn detail(&self) -> String {
        self.action.outcome().into()
    }
}

/// Deletes a reported post or comment, if it is still there.
fn remove(conn: &Connection, subject: Subject, id: Id, admin: Id) -> Result<(), CmdError> {
    let done = match subject {
        Subject::Post => DeletePost { id, user: admin }.apply(conn),
        Subject::Comment => DeleteComment { id, user: admin }.apply(conn),
        Subject::User | Subject::Message => Ok(()),
    };
    match done {
        Ok(()) | Err(CmdError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
