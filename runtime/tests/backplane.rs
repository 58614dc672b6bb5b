//! Backplanes: with `InProcess` a session that is gone is `Closed`, as with a plain hub; with
//! Redis reachable but not answering, concurrent presence queries each wait for their own
//! connect timeout, not for each other's.

use std::sync::Arc;

use wsgen_runtime::{Hub, InProcess, SendError, SessionId, SharedBackplane};

#[test]
fn in_process_says_closed_for_a_session_that_is_gone() {
    let backplane: SharedBackplane = Arc::new(InProcess::new());
    let hub: Hub<String> = Hub::with_backplane("api.chat", &backplane);
    let gone = SessionId::from(12_345);
    assert_eq!(hub.send(gone, "hi".to_owned()), Err(SendError::Closed));
    assert!(!hub.join("room", gone));
    // As a plain hub says.
    let plain: Hub<String> = Hub::new();
    assert_eq!(plain.send(gone, "hi".to_owned()), Err(SendError::Closed));
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn presence_queries_do_not_wait_for_each_others_connects() {
    use std::time::{Duration, Instant};
    use wsgen_runtime::RedisBackplane;

    // Reachable, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        // Bounded: the backplane's tasks and the queries connect a few dozen times at most.
        for _ in 0..64 {
            match listener.accept().await {
                Ok((stream, _)) => held.push(stream),
                Err(_) => break,
            }
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let redis = RedisBackplane::new(&url).unwrap();
    let hub: Hub<String> = Hub::with_backplane("api.chat", &redis.shared());
    const QUERIES: usize = 6;
    let started = Instant::now();
    let queries: Vec<_> = (0..QUERIES)
        .map(|_| {
            let hub = hub.clone();
            tokio::spawn(async move { hub.presence().await })
        })
        .collect();
    for query in queries {
        let answer = tokio::time::timeout(Duration::from_secs(30), query)
            .await
            .unwrap()
            .unwrap();
        assert!(answer.is_err(), "Redis does not answer: {answer:?}");
    }
    // One connect timeout is 2 s; one after the other, six would take 12 s.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(7), "{took:?}");
}
