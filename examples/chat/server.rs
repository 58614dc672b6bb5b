//! The chat server's handlers, shared by `cargo run --example chat-server` and the end-to-end
//! test of the chat spec: token middleware, rooms kept in the endpoint's hub, and typed close
//! conditions for a full room and a banned word.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use wsgen_generated::chat::{
    ChatConnectClose, ChatConnectConn, ChatConnectHandler, ClientEvent, Handlers, Line, Middleware,
    Mood, ServerEvent,
};
use wsgen_runtime::{Disconnect, Refusal, Request, SendError, SessionId};

/// Accepts the upgrade only with `Authorization: Bearer <one of the tokens>`.
pub struct Tokens(pub Vec<String>);

impl Middleware for Tokens {
    async fn auth(&self, request: &Request) -> Result<(), Refusal> {
        let header = request
            .header("authorization")
            .ok_or_else(|| Refusal::unauthorized("send Authorization: Bearer <token>"))?;
        let token = header.strip_prefix("Bearer ").unwrap_or_default();
        if self.0.iter().any(|known| known == token) {
            Ok(())
        } else {
            Err(Refusal::forbidden("unknown token"))
        }
    }
}

/// The user an HTTP layer in front authenticated (see `examples/axum-app.rs`), read from the
/// connection's request extensions.
#[derive(Debug, Clone)]
pub struct User(pub String);

/// Who is connected, and which rooms each session is in (for `left` events on disconnect).
pub struct Rooms {
    max_members: usize,
    banned: Vec<String>,
    sessions: Mutex<HashMap<SessionId, BTreeSet<String>>>,
}

impl Rooms {
    /// Rooms that hold at most `max_members` each and refuse lines with a `banned` word.
    pub fn new(max_members: usize, banned: &[&str]) -> Self {
        Rooms {
            max_members,
            banned: banned.iter().map(|w| w.to_lowercase()).collect(),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn rooms_of(&self, session: SessionId) -> BTreeSet<String> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.get(&session).cloned().unwrap_or_default()
    }

    fn update(&self, session: SessionId, change: impl FnOnce(&mut BTreeSet<String>)) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        change(sessions.entry(session).or_default());
    }
}

impl ChatConnectHandler for Rooms {
    async fn on_connect(&self, conn: &ChatConnectConn) -> Result<(), ChatConnectClose> {
        // Inside an axum app, the app's auth layer may have named the user already.
        let user = match conn.extensions().get::<User>() {
            Some(User(user)) => user.clone(),
            None => conn.query().name.clone(),
        };
        let _ = conn.send(ServerEvent::Welcome {
            session: conn.session_id().get(),
            user,
        });
        Ok(())
    }

    async fn on_message(
        &self,
        conn: &ChatConnectConn,
        event: ClientEvent,
    ) -> Result<(), ChatConnectClose> {
        let me = conn.session_id();
        let user = conn.query().name.clone();
        let hub = conn.hub();
        match event {
            ClientEvent::Join(join) => {
                if hub.members(&join.room).len() >= self.max_members {
                    return Err(ChatConnectClose::RoomFull);
                }
                hub.join(&join.room, me);
                self.update(me, |rooms| {
                    rooms.insert(join.room.clone());
                });
                let members = u32::try_from(hub.members(&join.room).len()).unwrap_or(u32::MAX);
                let joined = ServerEvent::Joined {
                    room: join.room.clone(),
                    user,
                    members,
                };
                hub.broadcast_to(&join.room, joined);
            }
            ClientEvent::Say(say) => {
                let lower = say.text.to_lowercase();
                if self.banned.iter().any(|word| lower.contains(word.as_str())) {
                    return Err(ChatConnectClose::BannedWord);
                }
                if !self.rooms_of(me).contains(&say.room) {
                    let _ = conn.send(ServerEvent::Notice {
                        text: format!("join {} before saying something there", say.room),
                    });
                    return Ok(());
                }
                let line = Line {
                    room: say.room.clone(),
                    user,
                    text: say.text,
                    mood: say.mood.unwrap_or(Mood::Plain),
                    quote: say.quote.map(Box::new),
                };
                hub.broadcast_to(&say.room, ServerEvent::Line(line));
            }
            ClientEvent::Whisper { to, text } => {
                // Reaches the session on whichever node it is connected to (with a backplane).
                let whispered = ServerEvent::Whispered {
                    from: me.get(),
                    user,
                    text,
                };
                let text = match hub.send(SessionId::from(to), whispered) {
                    Ok(()) => None,
                    Err(SendError::Closed) => Some(format!("session {to} is not connected")),
                    Err(SendError::QueueFull) => Some(format!("session {to} cannot take more now")),
                };
                if let Some(text) = text {
                    let _ = conn.send(ServerEvent::Notice { text });
                }
            }
            ClientEvent::Invite { to, room } => {
                // With a backplane, a session of another node is added there.
                if !hub.join(&room, SessionId::from(to)) {
                    let _ = conn.send(ServerEvent::Notice {
                        text: format!("session {to} is not connected"),
                    });
                }
            }
            ClientEvent::Leave(leave) => {
                hub.broadcast_to(
                    &leave.room,
                    ServerEvent::Left {
                        room: leave.room.clone(),
                        user,
                    },
                );
                hub.leave(&leave.room, me);
                self.update(me, |rooms| {
                    rooms.remove(&leave.room);
                });
            }
        }
        Ok(())
    }

    async fn on_disconnect(&self, conn: &ChatConnectConn, _why: Disconnect) {
        let rooms = {
            let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            sessions.remove(&conn.session_id()).unwrap_or_default()
        };
        for room in rooms {
            conn.hub().broadcast_to(
                &room,
                ServerEvent::Left {
                    room: room.clone(),
                    user: conn.query().name.clone(),
                },
            );
        }
    }
}

/// The chat server's handler set.
pub fn handlers(tokens: &[&str], max_members: usize) -> Handlers<Rooms, Tokens> {
    Handlers {
        chat_connect: Rooms::new(max_members, &["darn"]),
        middleware: Tokens(tokens.iter().map(|t| (*t).to_owned()).collect()),
    }
}
