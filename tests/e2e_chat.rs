//! End to end for the chat example (`examples/specs/chat.yaml` served by the handlers of
//! `cargo run --example chat-server`): auth middleware, rooms with join, say and leave, typed
//! unions and enums, a recursive quote, validation errors, and typed close conditions.

mod common;

#[path = "../examples/chat/server.rs"]
mod server;

use common::{refusal, serve, within};
use wsgen_generated::chat::*;
use wsgen_runtime::{ClientError, ConnectOptions};

async fn start(max_members: usize) -> String {
    serve(server::handlers(&["secret"], max_members).into_server()).await
}

async fn connect(url: &str, name: &str) -> ChatConnectClient {
    let query = ChatConnectQuery {
        name: name.to_owned(),
    };
    let options = ConnectOptions::default().header("authorization", "Bearer secret");
    let mut client = within(ChatConnectClient::connect_with(url, &query, options))
        .await
        .unwrap();
    match within(client.recv()).await.unwrap() {
        ServerEvent::Welcome { session, user } => {
            assert_eq!(user, name);
            assert!(session > 0);
        }
        other => panic!("expected the welcome, got {other:?}"),
    }
    client
}

async fn join(client: &mut ChatConnectClient, room: &str) {
    client
        .send(ClientEvent::Join(Join {
            room: room.to_owned(),
        }))
        .await
        .unwrap();
}

fn say(room: &str, text: &str) -> ClientEvent {
    ClientEvent::Say(Say {
        room: room.to_owned(),
        text: text.to_owned(),
        mood: None,
        quote: None,
    })
}

#[tokio::test]
async fn the_auth_middleware_guards_the_upgrade() {
    let url = start(10).await;
    assert_eq!(refusal(&url, "/chat/connect?name=x", &[]).await.0, 401);
    let (status, body) = refusal(
        &url,
        "/chat/connect?name=x",
        &[("authorization", "Bearer nope")],
    )
    .await;
    assert_eq!((status, body.as_str()), (403, "unknown token"));
    // The query input is checked too.
    let (status, body) =
        refusal(&url, "/chat/connect", &[("authorization", "Bearer secret")]).await;
    assert_eq!(
        (status, body.as_str()),
        (400, "missing query parameter `name`")
    );
}

#[tokio::test]
async fn a_room_hears_what_is_said_in_it_and_no_other_room_does() {
    let url = start(10).await;
    let mut ana = connect(&url, "ana").await;
    let mut bo = connect(&url, "bo").await;
    let mut cy = connect(&url, "cy").await;
    join(&mut ana, "lobby").await;
    assert!(matches!(
        within(ana.recv()).await.unwrap(),
        ServerEvent::Joined { members: 1, .. }
    ));
    join(&mut bo, "lobby").await;
    for client in [&mut ana, &mut bo] {
        match within(client.recv()).await.unwrap() {
            ServerEvent::Joined {
                room,
                user,
                members,
            } => {
                assert_eq!((room.as_str(), user.as_str(), members), ("lobby", "bo", 2));
            }
            other => panic!("expected bo's join, got {other:?}"),
        }
    }
    join(&mut cy, "garden").await;
    assert!(matches!(
        within(cy.recv()).await.unwrap(),
        ServerEvent::Joined { .. }
    ));

    ana.send(say("lobby", "hello lobby")).await.unwrap();
    for client in [&mut ana, &mut bo] {
        match within(client.recv()).await.unwrap() {
            ServerEvent::Line(line) => {
                assert_eq!(line.user, "ana");
                assert_eq!(line.text, "hello lobby");
                assert_eq!(line.mood, Mood::Plain);
            }
            other => panic!("expected ana's line, got {other:?}"),
        }
    }
    // cy, in another room, hears only what is said in the garden.
    cy.send(say("garden", "anyone?")).await.unwrap();
    match within(cy.recv()).await.unwrap() {
        ServerEvent::Line(line) => assert_eq!(line.text, "anyone?"),
        other => panic!("expected cy's own line first, got {other:?}"),
    }

    // Leaving and disconnecting are announced to the room.
    bo.send(ClientEvent::Leave(Leave {
        room: "lobby".to_owned(),
    }))
    .await
    .unwrap();
    match within(ana.recv()).await.unwrap() {
        ServerEvent::Left { user, .. } => assert_eq!(user, "bo"),
        other => panic!("expected bo to leave, got {other:?}"),
    }
    join(&mut bo, "lobby").await;
    assert!(matches!(
        within(ana.recv()).await.unwrap(),
        ServerEvent::Joined { .. }
    ));
    within(bo.close()).await.unwrap();
    match within(ana.recv()).await.unwrap() {
        ServerEvent::Left { user, .. } => assert_eq!(user, "bo"),
        other => panic!("expected bo's disconnect to be announced, got {other:?}"),
    }
}

#[tokio::test]
async fn a_quote_nests_a_whole_line_and_moods_are_typed() {
    let url = start(10).await;
    let mut ana = connect(&url, "ana").await;
    join(&mut ana, "lobby").await;
    let _joined = within(ana.recv()).await.unwrap();
    let quoted = Line {
        room: "lobby".to_owned(),
        user: "bo".to_owned(),
        text: "first".to_owned(),
        mood: Mood::Joke,
        quote: Some(Box::new(Line {
            room: "lobby".to_owned(),
            user: "cy".to_owned(),
            text: "zeroth".to_owned(),
            mood: Mood::Plain,
            quote: None,
        })),
    };
    ana.send(ClientEvent::Say(Say {
        room: "lobby".to_owned(),
        text: "LOUD".to_owned(),
        mood: Some(Mood::Shout),
        quote: Some(quoted.clone()),
    }))
    .await
    .unwrap();
    match within(ana.recv()).await.unwrap() {
        ServerEvent::Line(line) => {
            assert_eq!(line.mood, Mood::Shout);
            assert_eq!(line.quote.as_deref(), Some(&quoted));
        }
        other => panic!("expected the line, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_events_are_rejected_and_the_connection_stays() {
    let url = start(10).await;
    let mut ana = connect(&url, "ana").await;
    join(&mut ana, "Not A Room!").await;
    match within(ana.recv()).await {
        Err(ClientError::Rejected {
            status: 400,
            errors,
        }) => {
            assert_eq!(errors[0].loc, ["room"]);
            assert_eq!(errors[0].kind, "string_pattern_mismatch");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    ana.send(say("lobby", "")).await.unwrap();
    match within(ana.recv()).await {
        Err(ClientError::Rejected { errors, .. }) => assert_eq!(errors[0].kind, "string_too_short"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    join(&mut ana, "lobby").await;
    assert!(matches!(
        within(ana.recv()).await.unwrap(),
        ServerEvent::Joined { .. }
    ));
}

#[tokio::test]
async fn a_full_room_and_a_banned_word_close_with_their_conditions() {
    let url = start(2).await;
    let mut ana = connect(&url, "ana").await;
    let mut bo = connect(&url, "bo").await;
    let mut cy = connect(&url, "cy").await;
    join(&mut ana, "lobby").await;
    join(&mut bo, "lobby").await;
    join(&mut cy, "lobby").await;
    match within(cy.recv()).await {
        Err(ClientError::Closed(ChatConnectClose::RoomFull)) => {}
        Ok(event) => panic!("cy should not get in: {event:?}"),
        Err(other) => panic!("expected RoomFull, got {other:?}"),
    }
    ana.send(say("lobby", "oh darn")).await.unwrap();
    loop {
        match within(ana.recv()).await {
            Ok(_) => continue,
            Err(ClientError::Closed(ChatConnectClose::BannedWord)) => break,
            Err(other) => panic!("expected BannedWord, got {other:?}"),
        }
    }
}

/// The next event of a split receiver (skipping the joins and lefts of others).
async fn next_line(rx: &mut wsgen_runtime::ClientReceiver<ServerEvent, ChatConnectClose>) -> Line {
    loop {
        match within(rx.recv()).await {
            Some(Ok(ServerEvent::Line(line))) => return line,
            Some(Ok(_)) => continue,
            other => panic!("expected a line, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_split_client_receives_in_one_task_while_others_send() {
    use futures_util::{SinkExt, StreamExt};

    let url = start(10).await;
    let (mut rx, tx) = connect(&url, "ana").await.split();
    let mut bo = connect(&url, "bo").await;
    within(tx.send(ClientEvent::Join(Join {
        room: "lobby".to_owned(),
    })))
    .await
    .unwrap();
    join(&mut bo, "lobby").await;

    // The receiver waits in its own task, with no message to come yet, while two other tasks
    // send through clones: one awaiting each write, one through the `Sink`.
    let receiver = tokio::spawn(async move {
        let mut texts = Vec::new();
        for _ in 0..20 {
            texts.push(next_line(&mut rx).await.text);
        }
        (rx, texts)
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let awaiting = tx.clone();
    let writer = tokio::spawn(async move {
        for i in 0..10 {
            awaiting.send(say("lobby", &format!("a{i}"))).await.unwrap();
        }
    });
    let mut sink = tx.clone();
    for i in 0..10 {
        SinkExt::send(&mut sink, say("lobby", &format!("s{i}")))
            .await
            .unwrap();
    }
    within(writer).await.unwrap();
    let (mut rx, texts) = within(receiver).await.unwrap();
    // Each sender's lines arrive in its own order, both interleaved in one stream.
    for prefix in ["a", "s"] {
        let mine: Vec<_> = texts
            .iter()
            .filter(|t| t.starts_with(prefix))
            .cloned()
            .collect();
        let expected: Vec<_> = (0..10).map(|i| format!("{prefix}{i}")).collect();
        assert_eq!(mine, expected);
    }

    // A close condition reaches the receiver, which then ends; later sends say it is over.
    tx.send(say("lobby", "oh darn")).await.unwrap();
    loop {
        match within(rx.next()).await {
            Some(Ok(_)) => continue,
            Some(Err(ClientError::Closed(ChatConnectClose::BannedWord))) => break,
            other => panic!("expected BannedWord, got {other:?}"),
        }
    }
    assert!(within(rx.next()).await.is_none());
    assert!(matches!(
        within(tx.send(say("lobby", "still there?"))).await,
        Err(ClientError::Lost)
    ));
}

#[tokio::test]
async fn a_split_client_closes_normally_by_its_sender_or_when_both_halves_drop() {
    let url = start(10).await;
    let mut bo = connect(&url, "bo").await;
    join(&mut bo, "lobby").await;
    let _ = within(bo.recv()).await.unwrap();

    for how in ["close", "drop"] {
        let (mut rx, tx) = connect(&url, "ana").await.split();
        within(tx.send(ClientEvent::Join(Join {
            room: "lobby".to_owned(),
        })))
        .await
        .unwrap();
        match within(bo.recv()).await.unwrap() {
            ServerEvent::Joined { user, .. } => assert_eq!(user, "ana"),
            other => panic!("expected ana's join, got {other:?}"),
        }
        if how == "close" {
            within(tx.close()).await.unwrap();
            // The receiver ends after a close asked for by the sender.
            loop {
                match within(rx.recv()).await {
                    Some(Ok(_)) => continue,
                    None => break,
                    Some(Err(e)) => panic!("expected the end, got {e:?}"),
                }
            }
        } else {
            drop((rx, tx));
        }
        // Either way the connection ended and the server announced it to the room.
        match within(bo.recv()).await.unwrap() {
            ServerEvent::Left { user, .. } => assert_eq!(user, "ana", "{how}"),
            other => panic!("expected ana to leave ({how}), got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_client_keeps_receiving_while_its_senders_never_pause() {
    use futures_util::SinkExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const SENDERS: usize = 4;
    const LINES: usize = 2_000;
    let url = start(10).await;
    let (mut rx, tx) = connect(&url, "ana").await.split();
    within(tx.send(ClientEvent::Join(Join {
        room: "lobby".to_owned(),
    })))
    .await
    .unwrap();

    // Senders that always have the next line ready: the connection's task must still read
    // between writes, so the first echo arrives while the flood goes on, not after it.
    let handed = Arc::new(AtomicUsize::new(0));
    let mut floods = Vec::new();
    for s in 0..SENDERS {
        let counter = Arc::clone(&handed);
        let mut sink = tx.clone();
        floods.push(tokio::spawn(async move {
            for i in 0..LINES {
                SinkExt::send(&mut sink, say("lobby", &format!("{s}-{i}")))
                    .await
                    .unwrap();
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let first = next_line(&mut rx).await;
    let handed_at_first = handed.load(Ordering::SeqCst);
    assert!(
        handed_at_first < SENDERS * LINES,
        "the first echo ({}) came only after all {} lines were handed over",
        first.text,
        SENDERS * LINES
    );
    // Every line still arrives, each sender's in its order.
    let mut next = [0usize; SENDERS];
    let (s, i) = first.text.split_once('-').unwrap();
    next[s.parse::<usize>().unwrap()] = i.parse::<usize>().unwrap() + 1;
    for _ in 1..SENDERS * LINES {
        let text = next_line(&mut rx).await.text;
        let (s, i) = text.split_once('-').unwrap();
        let s: usize = s.parse().unwrap();
        assert_eq!(i.parse::<usize>().unwrap(), next[s], "{text}");
        next[s] += 1;
    }
    for flood in floods {
        within(flood).await.unwrap();
    }
}
