//! End to end for seed 001 (Rwf): session ids, the hub (`Comms`) reaching one session or all of
//! them from a handler, a background task and another endpoint's handler, and text plus binary.

mod common;

use std::sync::{Arc, Mutex};

use common::{eventually, serve, within};
use wsgen_generated::rwf::*;
use wsgen_runtime::{ClientError, Frame, SessionId};

/// Echo through the hub, as Rwf's `Comms::websocket(client).send(message)` does.
struct Echo {
    connected: Arc<Mutex<Vec<SessionId>>>,
}

impl EchoWebsocketHandler for Echo {
    async fn on_connect(&self, conn: &EchoWebsocketConn) -> Result<(), EchoWebsocketClose> {
        self.connected.lock().unwrap().push(conn.session_id());
        Ok(())
    }

    async fn on_message(
        &self,
        conn: &EchoWebsocketConn,
        message: Frame,
    ) -> Result<(), EchoWebsocketClose> {
        let _ = conn.hub().send(conn.session_id(), message);
        Ok(())
    }
}

struct Feed;

impl NotificationsFeedHandler for Feed {
    async fn on_connect(&self, conn: &NotificationsFeedConn) -> Result<(), NotificationsFeedClose> {
        let _ = conn.send(format!("session {}", conn.session_id()));
        Ok(())
    }
}

/// Reaches feed sessions from another endpoint's handler.
struct Notifier {
    feed: NotificationsFeedHub,
}

impl NotificationsNotifyHandler for Notifier {
    async fn on_message(
        &self,
        _conn: &NotificationsNotifyConn,
        message: Notify,
    ) -> Result<(), NotificationsNotifyClose> {
        self.feed
            .send(SessionId::from(message.session), message.text)
            .map_err(|_| NotificationsNotifyClose::NoSuchSession)
    }
}

async fn start() -> (String, Hubs, Arc<Mutex<Vec<SessionId>>>) {
    let hubs = Hubs::default();
    let connected = Arc::new(Mutex::new(Vec::new()));
    let handlers = Handlers {
        echo_websocket: Echo {
            connected: Arc::clone(&connected),
        },
        notifications_feed: Feed,
        notifications_notify: Notifier {
            feed: hubs.notifications_feed.clone(),
        },
    };
    let url = serve(handlers.into_server_with_hubs(hubs.clone())).await;
    (url, hubs, connected)
}

async fn feed_client(url: &str) -> (NotificationsFeedClient, u64) {
    let mut client = within(NotificationsFeedClient::connect(url)).await.unwrap();
    let hello = within(client.recv()).await.unwrap();
    let id = hello.strip_prefix("session ").unwrap().parse().unwrap();
    (client, id)
}

#[tokio::test]
async fn text_and_binary_messages_echo_through_the_hub() {
    let (url, _, connected) = start().await;
    let mut client = within(EchoWebsocketClient::connect(&url)).await.unwrap();
    client.send(Frame::text("hey there")).await.unwrap();
    assert_eq!(
        within(client.recv()).await.unwrap(),
        Frame::text("hey there")
    );
    client
        .send(Frame::binary(vec![0, 159, 146, 150]))
        .await
        .unwrap();
    assert_eq!(
        within(client.recv()).await.unwrap(),
        Frame::binary(vec![0, 159, 146, 150])
    );
    assert_eq!(connected.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn every_connection_has_its_own_session_id() {
    let (url, hubs, _) = start().await;
    let (_a, first) = feed_client(&url).await;
    let (_b, second) = feed_client(&url).await;
    assert_ne!(first, second);
    let mut sessions = hubs.notifications_feed.sessions();
    sessions.sort();
    let mut expected = vec![SessionId::from(first), SessionId::from(second)];
    expected.sort();
    assert_eq!(sessions, expected);
}

#[tokio::test]
async fn another_endpoints_handler_reaches_one_session_by_id() {
    let (url, hubs, _) = start().await;
    let (mut alice, alice_id) = feed_client(&url).await;
    let (mut bob, _) = feed_client(&url).await;
    let mut notifier = within(NotificationsNotifyClient::connect(&url))
        .await
        .unwrap();
    notifier
        .send(Notify {
            session: alice_id,
            text: "for alice".to_owned(),
        })
        .await
        .unwrap();
    assert_eq!(within(alice.recv()).await.unwrap(), "for alice");
    // Bob got nothing: the next thing he sees is a broadcast sent after.
    hubs.notifications_feed.broadcast("after".to_owned());
    assert_eq!(within(bob.recv()).await.unwrap(), "after");
    notifier
        .send(Notify {
            session: 999_999,
            text: "nobody".to_owned(),
        })
        .await
        .unwrap();
    match within(notifier.closed()).await {
        ClientError::Closed(NotificationsNotifyClose::NoSuchSession) => {}
        other => panic!("expected NoSuchSession, got {other:?}"),
    }
    within(bob.close()).await.unwrap();
}

#[tokio::test]
async fn a_background_task_broadcasts_to_every_session() {
    let (url, hubs, _) = start().await;
    let (mut a, _) = feed_client(&url).await;
    let (mut b, _) = feed_client(&url).await;
    let feed = hubs.notifications_feed.clone();
    let job = tokio::spawn(async move { feed.broadcast("server restarting soon".to_owned()) });
    let delivery = within(job).await.unwrap();
    assert_eq!(delivery.delivered, 2);
    assert_eq!(within(a.recv()).await.unwrap(), "server restarting soon");
    assert_eq!(within(b.recv()).await.unwrap(), "server restarting soon");
}

#[tokio::test]
async fn sessions_leave_the_hub_when_they_disconnect() {
    let (url, hubs, _) = start().await;
    for _ in 0..20 {
        let (client, _) = feed_client(&url).await;
        within(client.close()).await.unwrap();
    }
    eventually(|| hubs.notifications_feed.is_empty()).await;
}
