//! Socket.IO at `/socket.io/` (DispoSMS "WebSocket Events").
//!
//! A client connects with `auth: {token}` (an access token; `?token=` and an
//! `Authorization: Bearer` header are accepted too). A refused token refuses the
//! namespace with `connect_error`. Each socket joins its user's room (`user_<id>`);
//! `join_room`/`leave_room` add an assignment's room (`assignment_<assign_id>`), checked
//! against its owner. Admins also join `admins`, which sees every message.
//!
//! [`forward_events`] is the bridge from the gateway's event bus to the rooms.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};
use socketioxide::extract::{Data, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::SocketIo;
use tokio::sync::broadcast::error::RecvError;

use gateway::{time, Event, Gateway};

use crate::auth::{resolve_caller, AuthKeys, Caller};
use crate::disposms::views::{assign_id, assignment_id, message_json};
use crate::AppState;

#[derive(Clone)]
struct SocketState {
    gateway: Gateway,
    auth: Arc<AuthKeys>,
}

pub fn user_room(user_id: i64) -> String {
    format!("user_{user_id}")
}

pub fn assignment_room(assignment_id: i64) -> String {
    format!("assignment_{}", assign_id(assignment_id))
}

pub const ADMIN_ROOM: &str = "admins";

/// Builds the Socket.IO layer and its handle.
pub fn layer(gateway: Gateway, auth: Arc<AuthKeys>) -> (SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::builder()
        .with_state(SocketState { gateway, auth })
        .build_layer();
    io.ns("/", on_connect.with(authenticate));
    (layer, io)
}

#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Connect middleware: a valid access token or no connection.
async fn authenticate(
    s: SocketRef,
    TryData(auth): TryData<Value>,
    State(state): State<SocketState>,
) -> Result<(), Refused> {
    let from_payload = auth
        .ok()
        .and_then(|v| v.get("token").and_then(Value::as_str).map(String::from));
    let token = from_payload
        .or_else(|| {
            let query = s.req_parts().uri.query()?;
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix("token="))
                .map(String::from)
        })
        .or_else(|| crate::auth::bearer(&s.req_parts().headers).map(String::from))
        .ok_or_else(|| Refused("Authentication required: connect with auth: {token}".into()))?;
    let claims = state
        .auth
        .verify(&token, "access")
        .map_err(|e| Refused(format!("Invalid token: {e}")))?;
    let caller = resolve_caller(&state.gateway, claims)
        .await
        .map_err(Refused)?;
    s.extensions.insert(caller);
    Ok(())
}

async fn on_connect(s: SocketRef) {
    let Some(caller) = s.extensions.get::<Caller>() else {
        return;
    };
    s.join(user_room(caller.user_id));
    if caller.is_admin() {
        s.join(ADMIN_ROOM);
    }
    s.on("join_room", join_room);
    s.on("leave_room", leave_room);
    s.on(
        "ping",
        |s: SocketRef, TryData(data): TryData<Value>| async move {
            // A client may send its own send time; the latency is then the one-way delay.
            let now = time::now();
            let latency = data
                .ok()
                .and_then(|d| d.get("timestamp").and_then(Value::as_str).map(String::from))
                .and_then(|t| time::parse_iso(&t))
                .map(|sent| (now - sent).num_milliseconds().max(0))
                .unwrap_or(0);
            let _ = s.emit(
                "pong",
                &json!({ "timestamp": time::iso(now), "latency": latency }),
            );
        },
    );
}

#[derive(Deserialize)]
struct RoomRequest {
    room_type: String,
    room_id: Value,
}

/// Resolves a room request to a room name the caller may join, or says why not.
async fn allowed_room(
    s: &SocketRef,
    gateway: &Gateway,
    req: &RoomRequest,
) -> Result<String, String> {
    let caller = s.extensions.get::<Caller>().ok_or("not authenticated")?;
    let room_id = match &req.room_id {
        Value::String(v) => v.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err("room_id must be a string or a number".into()),
    };
    match req.room_type.as_str() {
        "user" => {
            let id = room_id
                .strip_prefix("user_")
                .unwrap_or(&room_id)
                .parse::<i64>()
                .map_err(|_| format!("unknown user room {room_id}"))?;
            if id != caller.user_id && !caller.is_admin() {
                return Err("you may only join your own user room".into());
            }
            Ok(user_room(id))
        }
        "assignment" => {
            let id = assignment_id(&room_id).ok_or(format!("unknown assignment {room_id}"))?;
            if !caller.is_admin() {
                let owned = gateway
                    .assignment_owner(id)
                    .await
                    .map_err(|e| e.to_string())?;
                if owned != Some(caller.user_id) {
                    return Err(format!("assignment {room_id} is not yours"));
                }
            }
            Ok(assignment_room(id))
        }
        other => Err(format!("room_type must be user or assignment, not {other}")),
    }
}

async fn join_room(s: SocketRef, Data(req): Data<RoomRequest>, State(state): State<SocketState>) {
    match allowed_room(&s, &state.gateway, &req).await {
        Ok(room) => {
            s.join(room.clone());
            let _ = s.emit("room_joined", &json!({ "room": room }));
        }
        Err(why) => {
            let _ = s.emit("error", &json!({ "event": "join_room", "message": why }));
        }
    }
}

async fn leave_room(s: SocketRef, Data(req): Data<RoomRequest>, State(state): State<SocketState>) {
    if let Ok(room) = allowed_room(&s, &state.gateway, &req).await {
        s.leave(room.clone());
        let _ = s.emit("room_left", &json!({ "room": room }));
    }
}

/// Bridges committed gateway events to Socket.IO rooms, for the life of the server.
pub fn forward_events(state: AppState) {
    let mut rx = state.gateway.events().subscribe();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(event) => emit_event(&state.io, &event).await,
                Err(RecvError::Lagged(n)) => {
                    // Live delivery only: the messages are stored and listed by the API.
                    tracing::warn!("Socket.IO fan-out lagged and skipped {n} events");
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

async fn emit_event(io: &SocketIo, event: &Event) {
    match event {
        Event::NewMessage {
            user_id,
            message,
            assignment: event_assignment,
            ..
        } => {
            let assignment = event_assignment;
            // The live event carries the message without provider bookkeeping.
            let mut message = message_json(message);
            if let Some(obj) = message.as_object_mut() {
                obj.remove("extra_data");
            }
            let assignment = assignment
                .as_ref()
                .map(|a| json!({ "id": assign_id(a.id), "number": a.number }));
            let payload = json!({ "message": message, "assignment": assignment });
            let mut rooms = vec![ADMIN_ROOM.to_string()];
            if let Some(u) = user_id {
                rooms.push(user_room(*u));
            }
            if let Some(a) = event_assignment {
                rooms.push(assignment_room(a.id));
            }
            if let Err(e) = io.to(rooms).emit("new_message", &payload).await {
                tracing::warn!("cannot emit new_message: {e}");
            }
        }
        Event::MessageUpdated {
            user_id, message, ..
        } => {
            let mut rooms = vec![ADMIN_ROOM.to_string()];
            if let Some(u) = user_id {
                rooms.push(user_room(*u));
            }
            if let Some(a) = message.assignment_id {
                rooms.push(assignment_room(a));
            }
            let payload = json!({ "message": message_json(message) });
            if let Err(e) = io.to(rooms).emit("message_updated", &payload).await {
                tracing::warn!("cannot emit message_updated: {e}");
            }
        }
        Event::AssignmentStatus {
            user_id,
            assignment_id,
            status,
            previous_status,
            changed_at,
            ..
        } => {
            let payload = json!({
                "assignment_id": assign_id(*assignment_id),
                "status": status,
                "previous_status": previous_status,
                "changed_at": changed_at,
            });
            let rooms = vec![user_room(*user_id), assignment_room(*assignment_id)];
            if let Err(e) = io.to(rooms).emit("assignment_status", &payload).await {
                tracing::warn!("cannot emit assignment_status: {e}");
            }
        }
        Event::SmsStatus {
            user_id,
            job_id,
            status,
            error,
            at,
            ..
        } => {
            let payload =
                json!({ "id": job_id, "status": status, "error": error, "updated_at": at });
            let mut rooms = vec![ADMIN_ROOM.to_string()];
            if let Some(u) = user_id {
                rooms.push(user_room(*u));
            }
            if let Err(e) = io.to(rooms).emit("sms_status", &payload).await {
                tracing::warn!("cannot emit sms_status: {e}");
            }
        }
    }
}
