//! A name server on loopback for domain verification: it answers TXT and MX queries over UDP from the records
//! a test publishes, and nothing else.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{MX, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

type Records = Arc<Mutex<HashMap<(String, RecordType), Vec<RData>>>>;

pub struct Zone {
    pub address: SocketAddr,
    records: Records,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Zone {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    pub async fn start() -> Zone {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap();
        let records = Records::default();
        let served = records.clone();
        let task = tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            loop {
                let Ok((length, peer)) = socket.recv_from(&mut buffer).await else { continue };
                let Ok(query) = Message::from_vec(&buffer[..length]) else { continue };
                let mut response = Message::response(query.metadata.id, query.metadata.op_code);
                response.metadata.authoritative = true;
                response.metadata.recursion_desired = query.metadata.recursion_desired;
                response.metadata.recursion_available = true;
                response.metadata.response_code = ResponseCode::NoError;
                for question in &query.queries {
                    let name = key(&question.name().to_ascii());
                    let answers =
                        served.lock().unwrap().get(&(name, question.query_type())).cloned().unwrap_or_default();
                    for data in answers {
                        response.add_answer(Record::from_rdata(question.name().clone(), 60, data));
                    }
                    response.add_query(question.clone());
                }
                if let Ok(bytes) = response.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        Zone { address, records, task }
    }

    fn publish(&self, name: &str, kind: RecordType, data: RData) {
        self.records.lock().unwrap().entry((key(name), kind)).or_default().push(data);
    }

    /// Publishes a TXT record.
    pub fn txt(&self, name: &str, text: &str) {
        self.publish(name, RecordType::TXT, RData::TXT(TXT::new(vec![text.to_owned()])));
    }

    /// Publishes an MX record.
    pub fn mx(&self, name: &str, exchange: &str) {
        let exchange = Name::from_ascii(format!("{exchange}.")).unwrap();
        self.publish(name, RecordType::MX, RData::MX(MX::new(32767, exchange)));
    }
}
