//! The frames between the capture thread and the sender, bounded. A live source (a camera, a
//! stream of frames on standard input) cannot wait: when the sender falls behind, its oldest
//! queued frame is dropped and counted, so what is sent stays current and memory stays
//! bounded. A file source waits instead, since its files do not go stale.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use tokio::sync::Notify;

pub struct Queue<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// Wakes a file source waiting for room.
    room: Condvar,
    /// Wakes the sender waiting for a frame.
    filled: Notify,
}

struct State<T> {
    items: VecDeque<T>,
    /// The capture side has no more frames.
    capture_done: bool,
    /// The sender has stopped taking frames.
    sender_gone: bool,
    dropped: u64,
}

impl<T> Queue<T> {
    pub fn new(capacity: usize) -> Queue<T> {
        Queue {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(capacity),
                capture_done: false,
                sender_gone: false,
                dropped: 0,
            }),
            capacity: capacity.max(1),
            room: Condvar::new(),
            filled: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a frame of a file source, waiting for room; false once the sender is gone.
    pub fn push_waiting(&self, item: T) -> bool {
        let mut state = self.state();
        while state.items.len() >= self.capacity && !state.sender_gone {
            state = self.room.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if state.sender_gone {
            return false;
        }
        state.items.push_back(item);
        self.filled.notify_one();
        true
    }

    /// Queues a frame of a live source, dropping the oldest queued one when full; false once
    /// the sender is gone.
    pub fn push_dropping_oldest(&self, item: T) -> bool {
        let mut state = self.state();
        if state.sender_gone {
            return false;
        }
        if state.items.len() >= self.capacity {
            state.items.pop_front();
            state.dropped += 1;
        }
        state.items.push_back(item);
        self.filled.notify_one();
        true
    }

    /// The capture side is done: the sender takes what is queued, then gets None.
    pub fn capture_done(&self) {
        self.state().capture_done = true;
        self.filled.notify_one();
    }

    /// The sender stops: a waiting source is released and every later push refused.
    pub fn sender_gone(&self) {
        self.state().sender_gone = true;
        self.room.notify_all();
    }

    /// Frames a live source dropped so far.
    pub fn dropped(&self) -> u64 {
        self.state().dropped
    }

    /// The next frame, or None when the capture side is done and nothing is queued. Cancel
    /// safe: a frame leaves the queue only when this returns it.
    pub async fn pop(&self) -> Option<T> {
        loop {
            {
                let mut state = self.state();
                if let Some(item) = state.items.pop_front() {
                    self.room.notify_one();
                    return Some(item);
                }
                if state.capture_done {
                    return None;
                }
            }
            self.filled.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// What the sender takes from the queue until the capture side is done, pausing `pause`
    /// after each frame (a slow sender).
    fn drain(queue: &Queue<i32>, pause: Duration) -> Vec<i32> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut got = Vec::new();
            while let Some(frame) = queue.pop().await {
                got.push(frame);
                tokio::time::sleep(pause).await;
            }
            got
        })
    }

    #[test]
    fn a_live_source_keeps_the_newest_frames_and_counts_the_rest() {
        let queue = Queue::new(3);
        for frame in 0..10 {
            assert!(queue.push_dropping_oldest(frame));
        }
        queue.capture_done();
        assert_eq!(drain(&queue, Duration::ZERO), [7, 8, 9]);
        assert_eq!(queue.dropped(), 7);
    }

    #[test]
    fn a_file_source_waits_for_room_and_loses_nothing() {
        let queue = Arc::new(Queue::new(2));
        let source = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                for frame in 0..50 {
                    assert!(queue.push_waiting(frame));
                }
                queue.capture_done();
            })
        };
        let got = drain(&queue, Duration::from_micros(200));
        source.join().unwrap();
        assert_eq!(got, (0..50).collect::<Vec<_>>());
        assert_eq!(queue.dropped(), 0);
    }

    #[test]
    fn a_waiting_source_is_released_when_the_sender_stops() {
        let queue = Arc::new(Queue::new(1));
        assert!(queue.push_waiting(1));
        let source = {
            let queue = queue.clone();
            std::thread::spawn(move || queue.push_waiting(2))
        };
        std::thread::sleep(Duration::from_millis(50));
        queue.sender_gone();
        assert!(!source.join().unwrap(), "refused, not stuck");
    }
}
